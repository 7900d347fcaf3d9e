// Lists devices through the cisco-risport library as rigs do:
// node select.js <host> <user> <password> <SelectCmDevice|SelectCmDeviceExt> <status> <name pattern>.
// Prints the library's results as JSON.
const risPortService = require("cisco-risport");
const [host, user, password, action, status, item] = process.argv.slice(2);
const svc = new risPortService(host, user, password, {}, false);
svc
  .selectCmDevice(action, 1000, "Phone", "", status, "", "Name", item, "Any", "Any")
  .then((r) => console.log(JSON.stringify(r.results || [])))
  .catch((e) => {
    console.log(JSON.stringify({ error: String(e.message || e), status: e.status }));
  });
