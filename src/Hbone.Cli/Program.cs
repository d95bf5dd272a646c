using System.CommandLine;
using Hbone.Cli.Commands;
using Hbone.Cli.Commands.Ztunnel;

// Before any socket exists: serve and forward never block on a socket completion, so completions run inline,
// saving a thread-pool hop per receive (docs/benchmarks.md). DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 turns it off.
Hbone.Hosting.SocketCompletions.PreferInline();

var root = new RootCommand("hbone: HBONE (Istio ambient mesh tunnels) from the shell. Exit codes: 0 success (serve/forward: also after a drain on SIGTERM/Ctrl+C), 1 error (one line on stderr), 2 the HBONE server refused the CONNECT (connect).")
{
    CertsCommand.Create(),
    ServeCommand.Create(),
    ConnectCommand.Create(),
    ForwardCommand.Create(),
    ZtunnelCommand.Create(),
};

var parse = root.Parse(args);
if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
{
    // Same one-line form as every other error; the usage stays one --help away.
    var errors = string.Join(" ", parse.Errors.Select(e => e.Message.ReplaceLineEndings(" ").Trim()));
    var names = new List<string>();
    for (var result = parse.CommandResult; result is not null && result.Command != root; result = result.Parent as System.CommandLine.Parsing.CommandResult)
    {
        names.Insert(0, result.Command.Name);
    }

    var command = string.Join(' ', ["hbone", .. names]);
    await Console.Error.WriteLineAsync($"hbone: error: {errors} See '{command} --help'.");
    return CliError.ExitCode;
}

// The host of 'serve' handles SIGTERM/SIGINT itself and drains for --drain-timeout; System.CommandLine's
// own handler would end the process after 2 s, cutting the drain short.
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
