package RT::Interface::Email::Action::IASOAlert;

# Request Tracker 5 mail-gateway action "alert" for IASO alert mails (docs/service-desk.md).
#
# A plain mail gateway threads a mail onto a ticket only by RT's own "[rtname #123]" tag, which
# a core cannot know: every RECOVERY would open a new ticket. This action reads the X-IASO-*
# headers iaso-servicedesk-notify writes instead, and keeps one ticket per problem:
#
#   X-IASO-Action: open     the problem's ticket, created unless it exists (a ticket closed by
#                           its recovery does not count: the core reused the key)
#   X-IASO-Action: record   a comment on the problem's ticket, if there is one
#   X-IASO-Action: resolve  a comment, then the ticket resolved; with no ticket for the key,
#                           the open tickets of the same object (the problem has ended)
#
# A mail whose X-IASO-Notification-Id is already on the ticket is not recorded again, so a mail
# delivered twice leaves one comment. The same custom fields as the REST path are used
# (iaso-initialdata), so either path can continue a ticket the other opened.
#
# Install: this directory on RT's Perl path (local/lib), and in RT_SiteConfig
#   Set(@MailPlugins, qw(Auth::MailFrom Action::IASOAlert));
# then give the alert address to the mail gateway with the action "alert":
#   iaso-alerts: "|/usr/bin/rt-mailgate --queue IASO --action alert --url https://rt.example.net/"
# The sender must be a user with the rights of the group "IASO monitoring" (iaso-initialdata);
# any other sender is refused (and rt-mailgate still exits 0: check tickets, not its status).

use strict;
use warnings;

use Encode ();
use Role::Basic 'with';
with 'RT::Interface::Email::Role';

use RT::Interface::Email ();

my %FIELD = (
    key           => 'IASO problem key',
    origin        => 'IASO origin',
    host          => 'IASO host',
    service       => 'IASO service',
    notifications => 'IASO notifications',
    recovered     => 'IASO recovered',
);

my %HEADER = (
    key     => 'X-IASO-Ticket',
    origin  => 'X-IASO-Origin',
    host    => 'X-IASO-Host',
    service => 'X-IASO-Service',
    id      => 'X-IASO-Notification-Id',
    action  => 'X-IASO-Action',
);

my @RIGHTS = qw(SeeQueue CreateTicket ShowTicket CommentOnTicket ModifyTicket
                SeeCustomField ModifyCustomField);

sub CheckACL {
    my %args = ( Action => undef, CurrentUser => undef, Queue => undef, @_ );
    return unless lc( $args{Action} || '' ) eq 'alert';

    my $principal = $args{CurrentUser}->PrincipalObj;
    for my $right (@RIGHTS) {
        next if $principal->HasRight( Object => $args{Queue}, Right => $right );
        RT::Interface::Email::MailError(
            Subject     => 'Permission Denied',
            Explanation => ( $args{CurrentUser}->UserObj->EmailAddress || 'this sender' )
                . " may not write IASO alerts into queue " . $args{Queue}->Name
                . " (missing right $right)",
            FAILURE     => 1,
        );
    }
    return 1;
}

sub HandleAlert {
    my %args = ( Message => undef, Subject => undef, Ticket => undef, Queue => undef, @_ );

    my $head  = $args{Message}->head;
    my %alert = map { $_ => _header( $head, $HEADER{$_} ) } keys %HEADER;
    unless ( $alert{id} && $alert{origin} && $alert{host}
        && $alert{action} =~ /^(open|record|resolve)$/ )
    {
        RT::Interface::Email::MailError(
            Subject     => 'IASO alert not recorded',
            Explanation => 'The mail lacks X-IASO-Notification-Id, X-IASO-Origin, X-IASO-Host '
                . 'or a valid X-IASO-Action',
            FAILURE     => 1,
        );
    }

    my $user  = $args{Ticket}->CurrentUser;
    my $queue = $args{Queue};
    my $in_queue = "Queue = " . _quote( $queue->Name );

    # Searches name one custom field; the object is checked on the tickets found.
    my $ticket;
    if ( $alert{key} ) {
        ($ticket) = grep { _same_object( $_, \%alert ) }
            _search( $user, "$in_queue AND " . _is( $FIELD{key}, $alert{key} ), 100 );
    }
    if ( $ticket && grep { $_ eq $alert{id} } _values( $ticket, 'notifications' ) ) {
        RT::Interface::Email::SUCCESS($ticket);
    }

    if ( $alert{action} eq 'open' ) {
        if ( !$ticket || _reused( $ticket, $alert{id} ) ) {
            RT::Interface::Email::SUCCESS(
                _create( $user, $queue, $args{Message}, $args{Subject}, \%alert ) );
        }
        _note( $ticket, $args{Message}, $alert{id}, 0 );
        RT::Interface::Email::SUCCESS($ticket);
    }
    if ( $alert{action} eq 'record' ) {
        _note( $ticket, $args{Message}, $alert{id}, 0 ) if $ticket;
        RT::Interface::Email::SUCCESS($ticket);
    }

    my @targets = $ticket ? ($ticket)
        : grep { _same_object( $_, \%alert ) }
        _search( $user, "$in_queue AND Status = '__Active__' AND "
            . _is( $FIELD{host}, $alert{host} ), 100 );
    for my $target (@targets) {
        next if _values( $target, 'recovered' );
        _note( $target, $args{Message}, $alert{id}, 1 );
    }
    if ( !@targets && $alert{key} && uc( _header( $head, 'X-IASO-Notification' ) ) eq 'RECOVERY' ) {
        # A core sends a RECOVERY only after notifying its problem: that PROBLEM is late (the
        # core runs notification commands side by side) and will be noted on this ticket.
        RT::Interface::Email::SUCCESS(
            _create( $user, $queue, $args{Message}, $args{Subject}, \%alert, 1 ) );
    }
    RT::Interface::Email::SUCCESS( $targets[0] );
}

# The core's time carried by a notification ID ("...@<time>"), if any.
sub _moment {
    my $id = shift // '';
    return $id =~ /\@(\d{1,12}(?:\.\d{1,9})?)$/ ? $1 : undef;
}

# An "open" meeting a ticket closed by a recovery: a new problem under a reused key (the core
# restarted without its retention file) only if it was raised after that recovery; otherwise it
# is the ticket's own PROBLEM, arriving after its RECOVERY.
sub _reused {
    my ( $ticket, $id ) = @_;
    my ($recovered) = _values( $ticket, 'recovered' );
    return 0 unless defined $recovered && length $recovered;
    my ( $closed_at, $raised_at ) = ( _moment($recovered), _moment($id) );
    return 1 unless defined $closed_at && defined $raised_at;
    return $raised_at > $closed_at ? 1 : 0;
}

sub _header {
    my ( $head, $name ) = @_;
    my $value = $head->get($name);
    return '' unless defined $value;
    $value = Encode::decode( 'MIME-Header', $value );
    $value =~ s/[\x00-\x1f\x7f]+/ /g;
    $value =~ s/^\s+|\s+$//g;
    return $value;
}

sub _quote {
    my $value = shift;
    $value =~ s/(['\\])/\\$1/g;
    return "'$value'";
}

sub _is {
    my ( $field, $value ) = @_;
    return "'CF.{$field}' = " . _quote($value);
}

sub _same_object {
    my ( $ticket, $alert ) = @_;
    for my $field (qw(origin host service)) {
        my ($value) = _values( $ticket, $field );
        return 0 unless ( $value // '' ) eq ( $alert->{$field} // '' );
    }
    return 1;
}

sub _search {
    my ( $user, $query, $limit ) = @_;
    my $tickets = RT::Tickets->new($user);
    my ( $ok, $msg ) = $tickets->FromSQL($query);
    RT::Interface::Email::TMPFAIL("IASO alert: ticket search failed: $msg") unless $ok;
    $tickets->OrderBy( FIELD => 'id', ORDER => 'DESC' );
    $tickets->RowsPerPage($limit);
    return @{ $tickets->ItemsArrayRef || [] };
}

sub _values {
    my ( $ticket, $field ) = @_;
    my $values = $ticket->CustomFieldValues( $FIELD{$field} );
    return map { $_->Content } @{ $values->ItemsArrayRef || [] };
}

sub _field_id {
    my ( $user, $queue, $name ) = @_;
    my $cf = RT::CustomField->new($user);
    $cf->LoadByName( Name => $name, LookupType => RT::Ticket->CustomFieldLookupType,
        ObjectId => $queue->Id );
    RT::Interface::Email::TMPFAIL("IASO alert: custom field '$name' is not set up on queue "
        . $queue->Name . " (load iaso-initialdata)") unless $cf->Id;
    return $cf->Id;
}

sub _create {
    my ( $user, $queue, $message, $subject, $alert, $resolved ) = @_;
    my %values = (
        key           => $alert->{key},
        origin        => $alert->{origin},
        host          => $alert->{host},
        service       => $alert->{service},
        notifications => [ $alert->{id} ],
        recovered     => $resolved ? $alert->{id} : '',
    );
    my %fields;
    for my $name ( keys %values ) {
        next unless ref $values{$name} || length( $values{$name} // '' );
        $fields{ 'CustomField-' . _field_id( $user, $queue, $FIELD{$name} ) } = $values{$name};
    }
    my $ticket = RT::Ticket->new($user);
    my ( $id, undef, $msg ) = $ticket->Create(
        Queue   => $queue->Id,
        Subject => $subject,
        MIMEObj => $message,
        ( $resolved ? ( Status => 'resolved' ) : () ),
        %fields,
    );
    RT::Interface::Email::TMPFAIL("IASO alert: ticket not created: $msg") unless $id;
    return $ticket;
}

sub _note {
    my ( $ticket, $message, $id, $resolve ) = @_;
    $RT::Handle->BeginTransaction;
    my ( $ok, $msg ) = $ticket->Comment( MIMEObj => $message );
    ( $ok, $msg ) = $ticket->AddCustomFieldValue( Field => $FIELD{notifications}, Value => $id )
        if $ok;
    if ( $ok && $resolve ) {
        ( $ok, $msg ) = $ticket->AddCustomFieldValue( Field => $FIELD{recovered}, Value => $id );
        ( $ok, $msg ) = $ticket->SetStatus('resolved')
            if $ok && $ticket->Status ne 'resolved';
    }
    unless ($ok) {
        $RT::Handle->Rollback;
        RT::Interface::Email::TMPFAIL( "IASO alert: not recorded on #" . $ticket->Id . ": $msg" );
    }
    $RT::Handle->Commit;
}

1;
