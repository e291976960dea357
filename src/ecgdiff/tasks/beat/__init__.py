"""The beat paper's clinical tasks (section 3.3, appendices 6.3-6.4), one module each."""
