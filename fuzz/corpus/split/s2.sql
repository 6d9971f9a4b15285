SELECT 'a;b', E'it\'s;', "we;ird";
