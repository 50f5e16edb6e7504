// Prints {"file": "the file as hclwrite.Format writes it", ...} for each .tf file given.
// hclwrite.Format is the formatter inside `terraform fmt` (HashiCorp's Go library, here as
// WebAssembly from @cdktf/hcl-tools); devtools/scan.py compares and shows the diff.
const { format } = require("@cdktf/hcl-tools");
const fs = require("fs");

(async () => {
  const out = {};
  for (const file of process.argv.slice(2)) {
    out[file] = await format(fs.readFileSync(file, "utf8"));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
