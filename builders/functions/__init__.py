"""Lambda handlers whose source is inlined into templates: they run in AWS Lambda, so they import no builders."""
