// Validates api/openapi.yaml with a real OpenAPI validator (swagger-parser).
import SwaggerParser from "@apidevtools/swagger-parser";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const file = process.argv[2] ?? path.join(root, "api", "openapi.yaml");
try {
  const api = await SwaggerParser.validate(file);
  const n = Object.keys(api.paths).length;
  console.log(`openapi: ${file} is valid OpenAPI ${api.openapi} with ${n} paths`);
  console.log("1 passed, 0 failed");
} catch (err) {
  console.error(`openapi: ${file} is NOT valid: ${err.message}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
