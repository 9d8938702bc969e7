// Checks Adaptive Cards with the `adaptivecards` package (Microsoft's object
// model): each card must parse without a single validation event against
// the schema version it declares. Usage: node check-cards.cjs cards.json
const fs = require("fs");
const AC = require("adaptivecards/dist/adaptivecards.js");

const cards = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
let failed = 0;
cards.forEach((json, i) => {
  const problems = [];
  const version = AC.Version.parse(json.version, new AC.SerializationContext());
  if (!version || !version.isValid) problems.push(`version ${JSON.stringify(json.version)} is not a schema version`);
  if (version && AC.Versions.latest.compareTo(version) < 0) problems.push(`version ${json.version} is newer than the schema knows`);
  const context = new AC.SerializationContext(version);
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  for (let e = 0; e < context.eventCount; e++) {
    const ev = context.getEventAt(e);
    problems.push(`${AC.ValidationEvent[ev.event]}: ${ev.message}`);
  }
  for (const ev of card.validateProperties().validationEvents) {
    problems.push(`${AC.ValidationEvent[ev.event]}: ${ev.message}`);
  }
  // Round trip: what the object model understood is what was sent.
  const back = card.toJSON(new AC.SerializationContext(version));
  if ((back.body || []).length !== (json.body || []).length) problems.push(`body has ${json.body.length} elements, understood ${(back.body || []).length}`);
  if ((back.actions || []).length !== (json.actions || []).length) problems.push("an action was not understood");
  if (problems.length) {
    failed++;
    console.log(`card ${i}: ${problems.join("; ")}`);
  }
});
if (failed) process.exit(1);
console.log(`valid ${cards.length}`);
