package geo

import "github.com/qsessions/qsessions"

// Label renders l for people the way django-qsessions does: "Berlin,
// Germany" when the city is known, "Germany" when only the country is, and
// "" when neither is.
func Label(l qsessions.Location) string {
	switch {
	case l.City != "" && l.Country != "":
		return l.City + ", " + l.Country
	case l.Country != "":
		return l.Country
	}
	return l.City
}
