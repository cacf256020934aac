# IASO alert mails (docs/service-desk.md): the mail gateway's "alert" action, which threads every
# notification of a problem onto that problem's ticket. Needs the directory holding
# RT/Interface/Email/Action/IASOAlert.pm on RT's Perl path (Debian: /usr/local/share/request-tracker5/lib).
Set(@MailPlugins, qw(Auth::MailFrom Action::IASOAlert));
1;
