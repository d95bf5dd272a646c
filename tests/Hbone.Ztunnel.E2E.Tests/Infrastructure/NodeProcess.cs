using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>
/// A program running inside a node's namespace: a published native binary (<c>ip netns exec NODE hbone-ztunnel</c>) or
/// a framework-dependent dll (<c>ip netns exec NODE dotnet X.dll</c>); ip execs, so the pid is the program's. Every
/// stdout and stderr line is kept; <see cref="StopAsync"/> sends SIGTERM, then kills.
/// Processes still running when the test process exits normally are killed too.
/// </summary>
internal partial class NodeProcess : IAsyncDisposable
{
    private static readonly TimeSpan DefaultStopDeadline = TimeSpan.FromSeconds(10);
    private static readonly Lock s_runningLock = new();
    private static readonly HashSet<Process> s_running = [];

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly List<string> _stdout = [];
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private event Action? LineAdded;

    static NodeProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();

    protected NodeProcess(string displayName, LabNode node, string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment)
    {
        DisplayName = displayName;
        Node = node;
        if (!File.Exists(program))
        {
            throw new FileNotFoundException($"{program} is not built (dotnet build -c {Repo.Configuration})", program);
        }

        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Repo.Root,
        };
        foreach (var argument in (string[])["netns", "exec", node.Netns, .. Repo.Command(program, arguments)])
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, stdout: true);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, stdout: false);
        _process.Exited += (_, _) => _exited.TrySetResult();
        _process.Start();
        lock (s_runningLock)
        {
            s_running.Add(_process);
        }

        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Pid = _process.Id;
    }

    /// <summary>Starts any published binary or built dll inside <paramref name="node"/>'s namespace.</summary>
    /// <param name="displayName">A name for messages.</param>
    /// <param name="node">The node whose namespace it runs in.</param>
    /// <param name="program">The program, e.g. <c>Repo.Program("Hbone.Cli")</c> (a native binary) or a dll.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Extra environment variables (a null value removes one).</param>
    public static NodeProcess Start(string displayName, LabNode node, string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment = null) =>
        new(displayName, node, program, arguments, environment ?? new Dictionary<string, string?>());

    /// <summary>A name for messages, e.g. <c>ztunnel node-a</c>.</summary>
    public string DisplayName { get; }

    /// <summary>The node whose namespace the process runs in.</summary>
    public LabNode Node { get; }

    /// <summary>The process id.</summary>
    public int Pid { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>The exit code, once exited.</summary>
    public int? ExitCode => HasExited ? _process.ExitCode : null;

    /// <summary>The process's stdin (autoflushed).</summary>
    public StreamWriter Input
    {
        get
        {
            _process.StandardInput.AutoFlush = true;
            return _process.StandardInput;
        }
    }

    /// <summary>Waits up to <paramref name="deadline"/> for the process to exit on its own; returns its exit code.</summary>
    /// <exception cref="TimeoutException">Still running at the deadline; the message carries the last lines.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan deadline)
    {
        try
        {
            await _exited.Task.WaitAsync(deadline);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{DisplayName} did not exit within {deadline}.{Tail()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Every line so far, stdout and stderr interleaved as they arrived.</summary>
    public IReadOnlyList<string> Lines
    {
        get
        {
            lock (_lock)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>The stdout lines so far (the ztunnel writes its access log there).</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_lock)
            {
                return [.. _stdout];
            }
        }
    }

    /// <summary>Waits for a line (stdout or stderr, already seen or new) that matches; returns it.</summary>
    /// <exception cref="TimeoutException">None within the deadline, or the process exited first; the message carries the last lines.</exception>
    public async Task<string> WaitForLineAsync(Predicate<string> match, TimeSpan deadline, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(deadline);
        while (true)
        {
            var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnAdded() => changed.TrySetResult();
            LineAdded += OnAdded;
            try
            {
                var found = Lines.FirstOrDefault(line => match(line));
                if (found is not null)
                {
                    return found;
                }

                if (HasExited && _outputClosed.Task.IsCompleted && _errorClosed.Task.IsCompleted)
                {
                    throw new TimeoutException($"{DisplayName} exited with {ExitCode} before printing the expected line.{Tail()}");
                }

                await Task.WhenAny(changed.Task, _exited.Task, Task.Delay(Timeout.Infinite, timeout.Token));
                if (timeout.IsCancellationRequested)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    throw new TimeoutException($"{DisplayName} printed no expected line within {deadline}.{Tail()}");
                }
            }
            finally
            {
                LineAdded -= OnAdded;
            }
        }
    }

    /// <summary>Sends SIGTERM and waits up to <paramref name="deadline"/> (10 s by default) for the exit, then kills the process tree.</summary>
    /// <returns>The exit code (137 style codes when it had to be killed).</returns>
    public async Task<int> StopAsync(TimeSpan? deadline = null)
    {
        if (!HasExited)
        {
            _ = kill(Pid, SigTerm);
            using var timeout = new CancellationTokenSource(deadline ?? DefaultStopDeadline);
            try
            {
                await _exited.Task.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }

        // Let the last lines (a drain summary, the final access-log line) arrive.
        await Task.WhenAll(_outputClosed.Task, _errorClosed.Task).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(static _ => { }, TaskScheduler.Default);
        lock (s_runningLock)
        {
            s_running.Remove(_process);
        }

        return _process.ExitCode;
    }

    /// <summary>Stops the process (<see cref="StopAsync"/>) and releases it.</summary>
    public virtual async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The last lines, for failure messages.</summary>
    public string Tail(int count = 40)
    {
        var lines = Lines;
        return lines.Count == 0
            ? " (no output)"
            : $"{Environment.NewLine}--- last output of {DisplayName} ---{Environment.NewLine}{string.Join(Environment.NewLine, lines.TakeLast(count))}";
    }

    private void OnLine(string? line, bool stdout)
    {
        if (line is null)
        {
            (stdout ? _outputClosed : _errorClosed).TrySetResult();
        }
        else
        {
            lock (_lock)
            {
                _lines.Add(line);
                if (stdout)
                {
                    _stdout.Add(line);
                }
            }
        }

        LineAdded?.Invoke();
    }

    private static void KillAll()
    {
        lock (s_runningLock)
        {
            foreach (var process in s_running)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }
            }

            s_running.Clear();
        }
    }

    private const int SigTerm = 15;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
