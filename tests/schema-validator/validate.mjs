// Validates Kubernetes manifests against the generated CRDs the way an API server (1.25+) would:
// structural schema with defaulting (ajv), unknown fields rejected (as kubectl --validate=strict),
// then every x-kubernetes-validations CEL rule (@bufbuild/cel).
// Usage: node validate.mjs CRD_DIR MANIFEST.yaml...   Prints a JSON report; exit 0 when all are valid, 1 otherwise.
// Kubernetes-only CEL libraries (quantity(), url(), isSorted() ...) are not in @bufbuild/cel; our rules use none.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";
import { run } from "@bufbuild/cel";

export function loadCrds(dir) {
  const crds = new Map();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      const crd = doc.toJS();
      for (const version of crd.spec.versions) {
        crds.set(`${crd.spec.group}/${version.name}/${crd.spec.names.kind}`, version.schema.openAPIV3Schema);
      }
    }
  }
  return crds;
}

// Nodes that describe their properties reject the rest, unless they preserve unknown fields.
function strict(schema) {
  const copy = structuredClone(schema);
  (function walk(node) {
    if (!node || typeof node !== "object") return;
    if (node.properties && !node["x-kubernetes-preserve-unknown-fields"] && node.additionalProperties === undefined) {
      node.additionalProperties = false;
    }
    for (const child of Object.values(node.properties ?? {})) walk(child);
    if (node.items) walk(node.items);
    if (node.additionalProperties && typeof node.additionalProperties === "object") walk(node.additionalProperties);
  })(copy);
  return copy;
}

function fieldPath(pointer, extra) {
  let path = "";
  for (const part of pointer.split("/").slice(1)) {
    path += /^\d+$/.test(part) ? `[${part}]` : (path ? "." : "") + part.replace(/~1/g, "/").replace(/~0/g, "~");
  }
  if (extra !== undefined) path += (path ? "." : "") + extra;
  return path || "<root>";
}

function describe(error) {
  switch (error.keyword) {
    case "required":
      return { path: fieldPath(error.instancePath, error.params.missingProperty), message: "Required value" };
    case "additionalProperties":
      return { path: fieldPath(error.instancePath, error.params.additionalProperty), message: "field not declared in schema" };
    case "enum":
      return {
        path: fieldPath(error.instancePath),
        message: `Unsupported value: ${JSON.stringify(error.data)}: supported values: ${error.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    default:
      return { path: fieldPath(error.instancePath), message: `Invalid value: ${JSON.stringify(error.data)}: ${error.message}` };
  }
}

// JSON value -> CEL value, typed by the schema as Kubernetes does (integer -> int, number -> double, object -> map).
function toCel(value, schema) {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((item) => toCel(item, schema?.items));
  if (typeof value === "object") {
    const map = new Map();
    for (const [key, child] of Object.entries(value)) {
      map.set(key, toCel(child, schema?.properties?.[key] ?? schema?.additionalProperties));
    }
    return map;
  }
  if (typeof value === "number") return schema?.type === "integer" ? BigInt(value) : value;
  return value;
}

function celErrors(value, schema, pointer) {
  const errors = [];
  if (value === undefined || value === null || !schema) return errors;
  for (const rule of schema["x-kubernetes-validations"] ?? []) {
    let result;
    try {
      result = run(rule.rule, { self: toCel(value, schema) });
    } catch (e) {
      errors.push({ path: fieldPath(pointer), message: `rule ${rule.rule} failed to evaluate: ${e.message}` });
      continue;
    }
    if (result !== true) {
      errors.push({ path: fieldPath(pointer), message: `Invalid value: ${rule.message}`, rule: rule.rule });
    }
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => errors.push(...celErrors(item, schema.items, `${pointer}/${i}`)));
  } else if (typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = schema.properties?.[key] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      errors.push(...celErrors(child, childSchema, `${pointer}/${key}`));
    }
  }
  return errors;
}

const ajv = new Ajv({ strict: false, allErrors: true, useDefaults: true, validateFormats: false, verbose: true });
const compiled = new WeakMap(); // schema -> validator: compile each CRD's schema once

export function validate(crds, object) {
  const [group, version] = String(object?.apiVersion ?? "").split("/");
  const schema = crds.get(`${group}/${version}/${object?.kind}`);
  if (!schema) return [{ path: "kind", message: `no CRD for apiVersion ${object?.apiVersion} kind ${object?.kind}` }];
  if (!compiled.has(schema)) compiled.set(schema, ajv.compile(strict(schema)));
  const check = compiled.get(schema);
  if (!check(object)) return check.errors.map(describe);
  return celErrors(object, schema, "");
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const [crdDir, ...files] = process.argv.slice(2);
  const crds = loadCrds(crdDir);
  const report = [];
  for (const file of files) {
    parseAllDocuments(readFileSync(file, "utf8")).forEach((doc, index) => {
      if (doc.errors.length > 0) {
        report.push({ file, document: index, errors: doc.errors.map((e) => ({ path: "<yaml>", message: e.message })) });
        return;
      }
      const object = doc.toJS();
      if (object === null) return;
      const errors = validate(crds, object);
      report.push({ file, document: index, kind: object.kind, name: object.metadata?.name, errors, defaulted: object });
    });
  }
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(report.every((r) => r.errors.length === 0) ? 0 : 1);
}
