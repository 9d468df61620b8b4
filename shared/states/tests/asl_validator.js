// Prints asl-validator's verdict on each definition of a JSON-lines corpus, one line each.
// Run by tests/corpus.rs with NODE_PATH pointing at the asl-validator installed by .ci/test.
const fs = require('fs');
const validator = require('asl-validator');
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean)) {
  const c = JSON.parse(line);
  const { isValid, errors } = validator(c.definition);
  console.log(JSON.stringify({ name: c.name, valid: isValid, errors: (errors || []).map((e) => e.message || String(e)) }));
}
