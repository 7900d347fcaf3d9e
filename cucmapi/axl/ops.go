package axl

// operations are the AXL operations served, by request element name.
var operations = map[string]operation{
	"getCCMVersion": getCCMVersion,

	"addUser": addUser, "getUser": getUser, "updateUser": updateUser, "removeUser": removeUser, "listUser": listUser,
	"addLine": addLine, "getLine": getLine, "updateLine": updateLine, "removeLine": removeLine, "listLine": listLine,
	"addPhone": addPhone, "getPhone": getPhone, "updatePhone": updatePhone, "removePhone": removePhone, "listPhone": listPhone,

	"getCallManager": getCallManager, "listCallManager": listCallManager, "updateCallManager": updateCallManager,
	"updateSelfProvisioning": updateSelfProvisioning, "doAuthenticateUser": doAuthenticateUser,

	"doDeviceReset": doDeviceReset, "resetPhone": resetPhone, "restartPhone": restartPhone, "applyPhone": applyPhone,
}

// getCCMVersion answers with a version of the schema the request used, as
// a CUCM of that release would.
func getCCMVersion(c *call) (*El, error) {
	return P("return", P("componentVersion", E("version", c.version+".1.10000(1)"))), nil
}
