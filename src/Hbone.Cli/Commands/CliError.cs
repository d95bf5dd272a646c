namespace Hbone.Cli.Commands;

/// <summary>A user-facing failure: printed as one line on stderr, never as a stack trace.</summary>
internal sealed class CliError(string message) : Exception(message)
{
    public const int ExitCode = 1;

    /// <summary>The HBONE server answered the CONNECT with a status other than 200.</summary>
    public const int RefusedExitCode = 2;

    /// <summary>Runs a command body, turning expected failures into one clear line and exit code 1.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Hbone.Client.HboneConnectException ex)
        {
            await Console.Error.WriteLineAsync($"hbone: refused: status={ex.ResponseStatus}: {OneLine(ex)}").ConfigureAwait(false);
            return RefusedExitCode;
        }
        catch (Exception ex) when (ex is CliError or HboneException or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException or System.Security.Cryptography.CryptographicException or Microsoft.Extensions.Options.OptionsValidationException)
        {
            await Console.Error.WriteLineAsync($"hbone: error: {OneLine(ex)}").ConfigureAwait(false);
            return ExitCode;
        }
    }

    private static string OneLine(Exception ex)
    {
        var message = ex is Microsoft.Extensions.Options.OptionsValidationException { InnerException: { } inner } ? inner.Message : ex.Message;
        if (ex is IOException { InnerException: System.Net.Sockets.SocketException socket })
        {
            message = $"{message} ({socket.SocketErrorCode})";
        }

        return message.ReplaceLineEndings(" ").Trim();
    }
}
