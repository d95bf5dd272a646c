using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>The built <c>hbone</c> CLI run as a real process; its output is collected line by line and it is killed on dispose.</summary>
internal sealed partial class HboneProcess : IDisposable
{
    public const int SIGTERM = 15;

    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly SemaphoreSlim _lineArrived = new(0);

    private HboneProcess(Process process) => _process = process;

    public bool HasExited => _process.HasExited;

    public int ProcessId => _process.Id;

    /// <summary>The process's stdin; it stays open (and empty) unless a test writes to or closes it.</summary>
    public StreamWriter StandardInput => _process.StandardInput;

    public IReadOnlyList<string> Stdout
    {
        get { lock (_stdout) { return [.. _stdout]; } }
    }

    public IReadOnlyList<string> Stderr
    {
        get { lock (_stderr) { return [.. _stderr]; } }
    }

    /// <summary>Path of the CLI assembly, copied next to the tests by the project reference.</summary>
    public static string CliPath
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "Hbone.Cli.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("The hbone CLI was not built next to the tests.", path);
        }
    }

    public static HboneProcess Start(params string[] args) => StartIn(workingDirectory: null, args);

    /// <summary>Starts the CLI with <paramref name="workingDirectory"/> as its current directory (the tests' own when null).</summary>
    public static HboneProcess StartIn(string? workingDirectory, params string[] args)
    {
        // The SDK sets DOTNET_HOST_PATH under 'dotnet test'; it is the muxer that runs the tests themselves.
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        info.ArgumentList.Add(CliPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        var result = new HboneProcess(process);
        process.OutputDataReceived += (_, e) => result.Add(result._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => result.Add(result._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Runs the CLI to completion (or kills it at the deadline).</summary>
    public static async Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)> RunAsync(params string[] args)
    {
        using var process = Start(args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, process.Stdout, process.Stderr);
    }

    /// <summary>Waits for the exit code; fails the test with the output so far when the deadline passes.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"hbone did not exit within {timeout}. {Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Waits for <c>hbone serve: listening on https://IP:PORT as ID</c> and returns the bound address and identity.</summary>
    public async Task<(string Address, string Identity)> WaitForListeningAsync(TimeSpan? timeout = null)
    {
        var line = await WaitForLineAsync(_stderr, l => ListeningLine().IsMatch(l), timeout ?? TimeSpan.FromSeconds(30));
        var match = ListeningLine().Match(line);
        return (match.Groups[1].Value, match.Groups[2].Value);
    }

    /// <summary>Waits for a stdout line (an access-log line) matching <paramref name="match"/>.</summary>
    public Task<string> WaitForStdoutAsync(Func<string, bool> match, TimeSpan? timeout = null) =>
        WaitForLineAsync(_stdout, match, timeout ?? TimeSpan.FromSeconds(15));

    /// <summary>Waits for a stderr line (a startup line) matching <paramref name="match"/>.</summary>
    public Task<string> WaitForStderrAsync(Func<string, bool> match, TimeSpan? timeout = null) =>
        WaitForLineAsync(_stderr, match, timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Sends a signal; <see cref="Process.Kill()"/> can only send SIGKILL.</summary>
    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public string Describe() =>
        $"stdout:{Environment.NewLine}{string.Join(Environment.NewLine, Stdout)}{Environment.NewLine}stderr:{Environment.NewLine}{string.Join(Environment.NewLine, Stderr)}";

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }

        _process.Dispose();
        _lineArrived.Dispose();
    }

    private async Task<string> WaitForLineAsync(List<string> lines, Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            lock (lines)
            {
                foreach (var line in lines)
                {
                    if (match(line))
                    {
                        return line;
                    }
                }
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"No matching line within {timeout}. {Describe()}");
            }

            // Wakes on any new line, and at least every 200 ms to notice an exit.
            await _lineArrived.WaitAsync(left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
            if (_process.HasExited && !await _lineArrived.WaitAsync(100))
            {
                lock (lines)
                {
                    if (!lines.Exists(l => match(l)))
                    {
                        throw new InvalidOperationException($"hbone exited with {_process.ExitCode} before printing the expected line. {Describe()}");
                    }
                }
            }
        }
    }

    private void Add(List<string> lines, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (lines)
        {
            lines.Add(line);
        }

        _lineArrived.Release();
    }

    [GeneratedRegex(@"^hbone serve: listening on https://(\S+) as (spiffe://\S+)$")]
    private static partial Regex ListeningLine();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
