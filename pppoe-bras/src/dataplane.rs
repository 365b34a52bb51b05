//! The only module that touches aya: load, attach, pin, fill and delete map rows, read counters.
