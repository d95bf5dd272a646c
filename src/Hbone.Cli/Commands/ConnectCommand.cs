using System.CommandLine;

namespace Hbone.Cli.Commands;

/// <summary><c>hbone connect</c>: stdin and stdout through one HBONE tunnel, like <c>nc</c>.</summary>
internal static class ConnectCommand
{
    public static Command Create()
    {
        var options = new TunnelClientOptions();
        var command = new Command("connect", "Open one HBONE tunnel and connect it to stdin/stdout (exit 2 if the server refuses the CONNECT).");
        options.AddTo(command);
        command.SetAction((parse, token) => CliError.RunAsync(async () =>
        {
            await using var setup = options.Build(parse);
            await using var tunnel = await setup.Client.ConnectAsync(setup.Request(), token).ConfigureAwait(false);
            await using var stdin = Console.OpenStandardInput();
            await using var stdout = Console.OpenStandardOutput();

            // stdin EOF becomes END_STREAM; the command ends when the server's side of the tunnel ends.
            var upload = Task.Run(async () =>
            {
                await stdin.CopyToAsync(tunnel, token).ConfigureAwait(false);
                await tunnel.CompleteWritesAsync(token).ConfigureAwait(false);
            }, CancellationToken.None);
            await tunnel.CopyToAsync(stdout, token).ConfigureAwait(false);
            await stdout.FlushAsync(token).ConfigureAwait(false);
            if (upload.IsFaulted)
            {
                await upload.ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }
}
