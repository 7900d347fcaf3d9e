package axl

// operations are the AXL operations served, by request element name.
var operations = map[string]operation{
	"getCCMVersion": getCCMVersion,
}

// getCCMVersion answers with a version of the schema the request used, as
// a CUCM of that release would.
func getCCMVersion(c *call) (*El, error) {
	return P("return", P("componentVersion", E("version", c.version+".1.10000(1)"))), nil
}
