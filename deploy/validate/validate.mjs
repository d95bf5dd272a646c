// Offline checks of deploy/, complementary to tests/Hbone.Packaging.Tests/DeploymentManifestTests.cs (which catches
// unknown fields): Kubernetes manifests against the API schema (types, required fields, int32 formats) with
// kubernetes-models, and Dockerfiles with dockerfile-utils' linter (the VS Code Docker extension's).
// Usage: node validate.mjs FILE...  (*.yaml / *.yml: manifests; Dockerfile*: Dockerfiles)
// Prints one "ok"/"FAIL" line per object or Dockerfile; exit code 0 when all pass, 1 when any fails, 2 on bad usage.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseAllDocuments } from "yaml";
import dockerfileUtils from "dockerfile-utils";
import * as apps from "kubernetes-models/apps/v1";
import * as core from "kubernetes-models/v1";
import * as rbac from "kubernetes-models/rbac.authorization.k8s.io/v1";

const modelsByApiVersion = { "apps/v1": apps, "v1": core, "rbac.authorization.k8s.io/v1": rbac };

function checkManifest(file) {
  let failures = 0;
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) {
      console.log(`FAIL ${file}: yaml: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj == null) continue; // an empty document, e.g. after a trailing "---"
    const Model = modelsByApiVersion[obj.apiVersion]?.[obj.kind];
    if (!Model) {
      console.log(`FAIL ${file}: no schema for ${obj.apiVersion} ${obj.kind}`);
      failures++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`ok   ${file}: ${obj.kind}/${obj.metadata?.name}`);
    } catch (error) {
      console.log(`FAIL ${file}: ${obj.kind}/${obj.metadata?.name}: ${error.message}`);
      failures++;
    }
  }
  return failures;
}

// Warnings count as failures, as the C# build treats warnings as errors.
function checkDockerfile(file) {
  const diagnostics = dockerfileUtils.validate(readFileSync(file, "utf8"));
  for (const d of diagnostics) {
    const level = d.severity === 1 ? "error" : "warning";
    console.log(`FAIL ${file}:${d.range.start.line + 1}: ${level}: ${d.message}`);
  }
  if (diagnostics.length === 0) console.log(`ok   ${file}: Dockerfile`);
  return diagnostics.length;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs FILE...  (*.yaml manifests, Dockerfile* Dockerfiles)");
  process.exit(2);
}
let failures = 0;
for (const file of files) {
  if (/\.ya?ml$/.test(file)) failures += checkManifest(file);
  else if (basename(file).startsWith("Dockerfile")) failures += checkDockerfile(file);
  else {
    console.log(`FAIL ${file}: neither a manifest (*.yaml) nor a Dockerfile`);
    failures++;
  }
}
process.exit(failures > 0 ? 1 : 0);
