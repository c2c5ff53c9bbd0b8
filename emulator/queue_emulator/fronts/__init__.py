"""Protocol fronts: each parses its wire format, calls the broker engine, encodes the answer. No rules here."""
