"""Files and text: atomic writers, input globs, and a corpus of real text found on any machine."""
