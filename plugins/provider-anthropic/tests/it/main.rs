//! Integration tests: the built `provider-anthropic` cdylib, loaded through the plugin host, against
//! the in-repo protocol server.

mod conformance;
