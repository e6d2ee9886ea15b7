"""Mail: templates with custom values, transports (SMTP through yagmail, a local Maildir), the outbox sender."""
