// Validate Kubernetes objects against the Kubernetes API schema, offline,
// with the JSON schemas that the npm package kubernetes-models compiles
// from the Kubernetes OpenAPI document (scripts/deps installs it).
//
//   node scripts/k8s-validate.mjs <objects.json
//
// stdin: a JSON array of [label, object] pairs (scripts/check-deploy
// writes it). Prints one line per error, "label: kind NAME: path message",
// and exits 1 when there was any; prints the package's version and exits 0
// otherwise. An apiVersion/kind the package has no model for is an error,
// never skipped.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = process.env.MIG_K8S_MODELS ||
	join(execFileSync("npm", ["root", "-g"], { encoding: "utf8" }).trim(), "kubernetes-models");
if (!existsSync(join(root, "package.json"))) {
	console.error(`k8s-validate: no kubernetes-models in ${root} (install it: scripts/deps)`);
	process.exit(69);
}
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

const input = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const [label, obj] of input) {
	const where = `${label}: ${obj?.kind ?? "?"} ${obj?.metadata?.name ?? "?"}`;
	if (typeof obj?.apiVersion !== "string" || typeof obj?.kind !== "string") {
		console.log(`${where}: no apiVersion or kind`);
		bad++;
		continue;
	}
	// "batch/v1" is kubernetes-models/batch/v1, the core "v1" is v1.
	const file = join(root, ...obj.apiVersion.split("/"), `${obj.kind}.js`);
	if (!existsSync(file)) {
		console.log(`${where}: ${obj.apiVersion} ${obj.kind} is not a Kubernetes API kind`);
		bad++;
		continue;
	}
	const mod = await import(pathToFileURL(file).href);
	try {
		new mod[obj.kind](obj).validate();
	} catch (e) {
		console.log(`${where}: ${e.message}`);
		bad++;
	}
}
if (bad) process.exit(1);
console.log(`k8s-validate: ${input.length} objects valid (kubernetes-models ${version})`);
