// A lab rig's first AXL session, through the cisco-axl client as rigs use
// it: node rig.js <host> <user> <password> <version>. It prints one JSON
// object, each step's result or fault, for the Go test to check.
const axlService = require("cisco-axl");
const [host, user, password, version] = process.argv.slice(2);
const svc = new axlService(host, user, password, version);
const bad = new axlService(host, user, password + "-wrong", version);
const out = {};

function faultOf(e) {
  if (e && e.detail && e.detail.axlError) {
    return { axlcode: String(e.detail.axlError.axlcode), axlmessage: e.detail.axlError.axlmessage, faultstring: e.faultstring };
  }
  if (e && e.faultstring) return { faultstring: String(e.faultstring) };
  return { error: String((e && e.message) || e) };
}

async function step(name, op, tags, client = svc) {
  try {
    out[name] = { ok: true, result: await client.executeOperation(op, tags) };
  } catch (e) {
    out[name] = { ok: false, fault: faultOf(e) };
  }
}

const phone = "SEP0011223366AA";
(async () => {
  await step("version", "getCCMVersion", {});
  await step("addUser", "addUser", { user: { userid: "axlrig", firstName: "Axl", lastName: "Rig", password: "rig-password", pin: "13579" } });
  await step("addLine", "addLine", { line: { pattern: "2401", description: "rig line", alertingName: "Axl Rig" } });
  await step("addPhone", "addPhone", {
    phone: {
      name: phone, description: "rig phone", product: "Cisco 8845", class: "Phone", protocol: "SIP", protocolSide: "User",
      devicePoolName: "Default", commonPhoneConfigName: "Standard Common Phone Profile", locationName: "Hub_None",
      ownerUserName: "axlrig", lines: { line: [{ index: 1, label: "Rig", dirn: { pattern: "2401" } }] },
    },
  });
  await step("getPhone", "getPhone", { name: phone });
  await step("listPhone", "listPhone", { searchCriteria: { name: "SEP00112233%" }, returnedTags: { name: "", product: "", ownerUserName: "" } });
  await step("updatePhone", "updatePhone", { name: phone, description: "rig phone, updated" });
  await step("getPhoneAfterUpdate", "getPhone", { name: phone, returnedTags: { description: "" } });
  await step("getUser", "getUser", { userid: "axlrig" });
  await step("listUser", "listUser", { searchCriteria: { userid: "axl%" }, returnedTags: { userid: "", lastName: "" } });
  await step("updateUser", "updateUser", { userid: "axlrig", firstName: "Axel" });
  await step("getLine", "getLine", { pattern: "2401" });
  await step("listLine", "listLine", { searchCriteria: { pattern: "24%" }, returnedTags: { pattern: "", alertingName: "" } });
  await step("updateLine", "updateLine", { pattern: "2401", alertingName: "Axel Rig" });
  await step("applyPhone", "applyPhone", { name: phone });
  // Cluster settings: the auto-registration range and self-provisioning.
  await step("listCallManager", "listCallManager", { searchCriteria: { name: "%" }, returnedTags: { name: "" } });
  const cms = out.listCallManager.ok ? [].concat(out.listCallManager.result.callManager) : [];
  const cm = cms.length ? cms[0].name : "none";
  await step("updateCallManager", "updateCallManager", {
    name: cm,
    autoRegistration: { startDn: "4000", endDn: "4099", autoRegistrationEnabled: "true" },
  });
  await step("getCallManager", "getCallManager", { name: cm, returnedTags: { autoRegistration: "" } });
  await step("updateSelfProvisioning", "updateSelfProvisioning", { requireAuthentication: "true", allowAuthentication: "true", authenticationCode: "246810" });
  // One fault of each class.
  await step("faultAuth", "getCCMVersion", {}, bad);
  await step("faultDuplicate", "addPhone", { phone: { name: phone, product: "Cisco 8845", class: "Phone", protocol: "SIP", protocolSide: "User" } });
  await step("faultNotFound", "getPhone", { name: "SEP00000000DEAD" });
  await step("faultBadRequest", "addLine", { line: { pattern: "24x1" } });
  await step("removePhone", "removePhone", { name: phone });
  await step("removeLine", "removeLine", { pattern: "2401" });
  await step("removeUser", "removeUser", { userid: "axlrig" });
  await step("getPhoneAfterRemove", "getPhone", { name: phone });
  console.log(JSON.stringify(out));
})();
