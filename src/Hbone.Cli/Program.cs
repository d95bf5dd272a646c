using System.CommandLine;
using Hbone.Cli.Commands;

var root = new RootCommand("hbone: HBONE (Istio ambient mesh tunnels) from the shell. Exit codes: 0 success, 1 error (one line on stderr), 130 interrupted.")
{
    CertsCommand.Create(),
    ServeCommand.Create(),
};

return await root.Parse(args).InvokeAsync();
