"""Knowledge base: manuals, FAQ and scripts, with search that works for Japanese (issue 4)."""
