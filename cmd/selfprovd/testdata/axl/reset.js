// Resets a phone through the cisco-axl client:
// node reset.js <host> <user> <password> <version> <operation> <phone>.
const axlService = require("cisco-axl");
const [host, user, password, version, op, name] = process.argv.slice(2);
const svc = new axlService(host, user, password, version);
const tags = op === "doDeviceReset" ? { deviceName: name, isHardReset: "true", deviceResetType: "Reset" } : { name };
svc
  .executeOperation(op, tags)
  .then((r) => console.log(JSON.stringify({ ok: true, result: r })))
  .catch((e) => console.log(JSON.stringify({ ok: false, fault: String(JSON.stringify(e)) })));
