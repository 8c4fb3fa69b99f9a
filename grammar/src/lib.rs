//! Kickstart parser: the pest grammar, the typed AST, diagnostics with file:line:col, `%include`
//! resolution through a caller-supplied loader, and a serializer back to Kickstart text.
