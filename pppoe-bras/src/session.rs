//! One subscriber session tied together, and the manager that demultiplexes them.
