package chat

import "strings"

// CommandKind says what a line of client input asks for.
type CommandKind int

// The kinds of client input (CONTRACT.md, "Client → server").
const (
	CmdMessage CommandKind = iota // a chat message; Arg is its text
	CmdNick                       // /nick NAME
	CmdJoin                       // /join ROOM
	CmdWho                        // /who
	CmdMe                         // /me ACTION
	CmdHelp                       // /help
	CmdUnknown                    // a command the server does not know; Arg is its name
	CmdUsage                      // a known command used wrongly; Arg is its usage line
)

// Command is one parsed line of client input.
type Command struct {
	Kind CommandKind
	Arg  string
}

// Name returns the command name of a CmdUnknown command.
func (c Command) Name() string { return c.Arg }

// HelpText is the answer to /help.
const HelpText = "commands: /nick NAME · /join ROOM · /who · /me ACTION · /help · //text sends /text"

// ParseCommand reads one text frame from a client. Text that starts with "/"
// is a command; "//x" is the message "/x"; anything else is a message, kept
// exactly as sent. Command names are case-insensitive.
func ParseCommand(text string) Command {
	if !strings.HasPrefix(text, "/") {
		return Command{CmdMessage, text}
	}
	if strings.HasPrefix(text, "//") {
		return Command{CmdMessage, text[1:]}
	}
	name, arg, _ := strings.Cut(text[1:], " ")
	if i := strings.IndexAny(name, "\t\r\n"); i >= 0 {
		name, arg = name[:i], name[i+1:]+" "+arg
	}
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(name) {
	case "nick":
		if arg == "" {
			return Command{CmdUsage, "usage: /nick NAME"}
		}
		return Command{CmdNick, arg}
	case "join":
		if arg == "" {
			return Command{CmdUsage, "usage: /join ROOM"}
		}
		return Command{CmdJoin, arg}
	case "who":
		return Command{CmdWho, ""}
	case "me":
		if arg == "" {
			return Command{CmdUsage, "usage: /me ACTION"}
		}
		return Command{CmdMe, arg}
	case "help":
		return Command{CmdHelp, ""}
	}
	return Command{CmdUnknown, name}
}
