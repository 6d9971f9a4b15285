-- +goose StatementBegin
CREATE FUNCTION h() RETURNS void AS $$ BEGIN; END; $$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO u VALUES (1); INSERT INTO v VALUES (2));
