"""Server-rendered pages for people: integration managers, jobcenter staff, data protection
officers, and the person whose data flows (without an account).

Pages are Jinja2 templates styled with the KERN UX design system (``@kern-ux/native``,
served from ``node_modules``), work without JavaScript for every core action, and call
the same services as the API with a ``Principal`` built from the web session, so the
policy engine decides for pages exactly as it does for case systems.
"""
