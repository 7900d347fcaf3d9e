package phonexml

import "strings"

func validateURL(obj, field, u string, required bool) error {
	if u == "" {
		if required {
			return invalid(obj, "%s is required", field)
		}
		return nil
	}
	if len(u) > MaxURL {
		return invalid(obj, "%s is %d bytes, over the %d phones accept", field, len(u), MaxURL)
	}
	return nil
}

func validateSoftKeys(obj string, keys []SoftKeyItem) error {
	if len(keys) > MaxSoftKeys {
		return invalid(obj, "%d SoftKeyItems, at most %d", len(keys), MaxSoftKeys)
	}
	for i, k := range keys {
		if k.Name == "" {
			return invalid(obj, "SoftKeyItem %d has no Name", i+1)
		}
		if err := validateURL(obj, "SoftKeyItem URL", k.URL, true); err != nil {
			return err
		}
		if err := validateURL(obj, "SoftKeyItem URLDown", k.URLDown, false); err != nil {
			return err
		}
		if k.Position < 1 || k.Position > MaxSoftKeys {
			return invalid(obj, "SoftKeyItem %q Position %d outside 1..%d", k.Name, k.Position, MaxSoftKeys)
		}
	}
	return nil
}

// ValidInputFlags reports whether flags is a documented InputFlags value:
// empty (phone default), or one of A T N E U L optionally followed by the
// P (masked) modifier.
func ValidInputFlags(flags string) bool {
	switch len(flags) {
	case 0:
		return true
	case 1:
		return strings.IndexByte("ATNEUL", flags[0]) >= 0
	case 2:
		return strings.IndexByte("ATNEUL", flags[0]) >= 0 && flags[1] == 'P'
	}
	return false
}

// Validate implements Object.
func (o *Input) Validate() error {
	if err := validateURL(TagInput, "URL", o.URL, true); err != nil {
		return err
	}
	if len(o.Items) == 0 || len(o.Items) > MaxInputItems {
		return invalid(TagInput, "%d InputItems, want 1..%d", len(o.Items), MaxInputItems)
	}
	for i, it := range o.Items {
		if it.QueryStringParam == "" {
			return invalid(TagInput, "InputItem %d has no QueryStringParam", i+1)
		}
		if !ValidInputFlags(it.InputFlags) {
			return invalid(TagInput, "InputItem %q has InputFlags %q", it.QueryStringParam, it.InputFlags)
		}
	}
	return validateSoftKeys(TagInput, o.SoftKeys)
}

// Validate implements Object.
func (o *Text) Validate() error {
	return validateSoftKeys(TagText, o.SoftKeys)
}

// Validate implements Object.
func (o *Menu) Validate() error {
	if len(o.Items) > MaxMenuItems {
		return invalid(TagMenu, "%d MenuItems, at most %d", len(o.Items), MaxMenuItems)
	}
	for i, it := range o.Items {
		if len(it.Name) > MaxMenuItemName {
			return invalid(TagMenu, "MenuItem %d Name is %d bytes, at most %d", i+1, len(it.Name), MaxMenuItemName)
		}
		if err := validateURL(TagMenu, "MenuItem URL", it.URL, true); err != nil {
			return err
		}
	}
	return validateSoftKeys(TagMenu, o.SoftKeys)
}

// Validate implements Object.
func (o *Execute) Validate() error {
	if len(o.Items) == 0 || len(o.Items) > MaxExecuteItems {
		return invalid(TagExecute, "%d ExecuteItems, want 1..%d", len(o.Items), MaxExecuteItems)
	}
	for _, it := range o.Items {
		if err := validateURL(TagExecute, "ExecuteItem URL", it.URL, true); err != nil {
			return err
		}
		if strings.HasPrefix(it.URL, "SoftKey:") {
			return invalid(TagExecute, "ExecuteItem URL %q: SoftKey: URIs are not allowed in Execute", it.URL)
		}
		if it.Priority < 0 || it.Priority > 2 {
			return invalid(TagExecute, "ExecuteItem Priority %d outside 0..2", it.Priority)
		}
	}
	return nil
}

// Validate implements Object.
func (o *Response) Validate() error {
	if len(o.Items) == 0 || len(o.Items) > MaxExecuteItems {
		return invalid(TagResponse, "%d ResponseItems, want 1..%d", len(o.Items), MaxExecuteItems)
	}
	return nil
}

// Validate implements Object.
func (o *Error) Validate() error {
	if o.Number < 0 {
		return invalid(TagError, "Number %d is negative", o.Number)
	}
	return nil
}
