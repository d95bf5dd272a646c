using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Hosting;

/// <summary>
/// Unmaps the file pages start-up left mapped (the binary's code and read-only data, shared libraries) once the ztunnel is
/// ready. Start-up runs code the data path never runs again, and the page cache holds the binary in large folios that a
/// fault maps whole: the Native AOT binary stays ~15 of its 17 MiB resident, of which ~1 MiB is touched while idle. The
/// pages stay in the page cache, so what runs again maps back with a minor fault (docs/benchmarks.md, "Ninth step").
/// </summary>
internal static partial class StartupPages
{
    private const int MadvDontNeed = 4;
    private static readonly TimeSpan ReadyPoll = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Waits until <paramref name="isReady"/> (start-up done) or <paramref name="deadline"/>, then unmaps and logs the
    /// resident memory before and after. Does nothing off Linux.
    /// </summary>
    public static async Task ReleaseWhenReadyAsync(Func<bool> isReady, TimeSpan deadline, ILogger logger, CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(deadline);
            using var poll = new PeriodicTimer(ReadyPoll);
            while (!isReady() && await poll.WaitForNextTickAsync(timeout.Token).ConfigureAwait(false))
            {
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Not ready by the deadline: start-up is over all the same.
        }

        cancellationToken.ThrowIfCancellationRequested();
        long before, after;
        int mappings;
        try
        {
            (before, after, mappings) = Release();
        }
        catch (IOException ex)
        {
            logger.LogWarning("start-up pages left mapped: {Reason}", ex.Message);
            return;
        }

        logger.LogInformation("start-up pages unmapped from {Mappings} read-only file mappings: resident {Before:F1} MiB, now {After:F1} MiB",
            mappings, before / 1048576.0, after / 1048576.0);
    }

    /// <summary>Unmaps every read-only file mapping that holds no private (copied-on-write) page; returns VmRSS before and after.</summary>
    public static (long BeforeBytes, long AfterBytes, int Mappings) Release()
    {
        long before = ResidentBytes();
        int mappings = Unmap(ReadOnlyFileMappings(File.ReadLines("/proc/self/smaps")));
        return (before, ResidentBytes(), mappings);
    }

    /// <summary>Drops the pages of <paramref name="mappings"/> from this process; returns how many the kernel accepted.</summary>
    internal static int Unmap(IEnumerable<(nint Start, nuint Length)> mappings)
    {
        int unmapped = 0;
        foreach ((nint start, nuint length) in mappings)
        {
            // Safe for a read-only file mapping without private pages: its pages are the file's, so dropping them loses
            // nothing (a locked mapping answers EINVAL and keeps its pages).
            if (madvise(start, length, MadvDontNeed) == 0)
            {
                unmapped++;
            }
        }

        return unmapped;
    }

    /// <summary>
    /// The mappings of <c>/proc/PID/smaps</c> that are safe to drop: backed by a file, not writable, and without anonymous
    /// (copied-on-write) pages, such as the relocated read-only data, whose contents differ from the file.
    /// </summary>
    internal static IEnumerable<(nint Start, nuint Length)> ReadOnlyFileMappings(IEnumerable<string> smaps)
    {
        (nint Start, nuint Length)? candidate = null;
        foreach (string line in smaps)
        {
            if (IsHeader(line, out (nint Start, nuint Length)? header))
            {
                candidate = header;
            }
            else if (candidate is { } mapping && line.StartsWith("Anonymous:", StringComparison.Ordinal))
            {
                candidate = null;
                if (Kilobytes(line) == 0)
                {
                    yield return mapping;
                }
            }
        }
    }

    // "7f1c2a000000-7f1c2a021000 r--p 00000000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6": a candidate when read-only and file-backed.
    private static bool IsHeader(string line, out (nint Start, nuint Length)? candidate)
    {
        candidate = null;
        string[] fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 5 || fields[0].IndexOf('-', StringComparison.Ordinal) is not (> 0 and var dash) || fields[1].Length != 4
            || !ulong.TryParse(fields[0].AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
            || !ulong.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong end))
        {
            return false;
        }

        if (end > start && fields[1][1] == '-' && fields.Length == 6 && fields[5].TrimStart().StartsWith('/'))
        {
            candidate = ((nint)start, (nuint)(end - start));
        }

        return true;
    }

    private static long Kilobytes(string line) =>
        long.TryParse(line.AsSpan(line.IndexOf(':', StringComparison.Ordinal) + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture, out long kb)
            ? kb
            : -1;

    private static long ResidentBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return Kilobytes(line) * 1024;
            }
        }

        return 0;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint addr, nuint length, int advice);
}
