//! PPPoE discovery, server side (RFC 2516): PADI/PADO/PADR/PADS/PADT.
