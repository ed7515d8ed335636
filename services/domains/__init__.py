"""Domains: domains, e-mail vhosts, mailboxes, redirects, FTP access, cancellations."""
