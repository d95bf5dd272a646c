using System.IO.MemoryMappedFiles;
using System.Security.Cryptography;
using Hbone.Ztunnel.Hosting;

namespace Hbone.Ztunnel.Tests.Hosting;

/// <summary>
/// MEM-05 (new case id, not in the catalogue): once ready, the ztunnel unmaps the file pages start-up left mapped. Only
/// read-only file mappings without private pages qualify, and unmapping one loses nothing: its bytes read back the same.
/// </summary>
public sealed class StartupPagesTests
{
    private const string Smaps = """
        55efbf098000-55efbf0b6000 r--p 00000000 fe:00 5317768                    /opt/hbone-ztunnel
        Size:                120 kB
        Rss:                 120 kB
        Anonymous:             0 kB
        VmFlags: rd mr mw me dw sd
        55efbf0b6000-55efbf978000 r-xp 0001e000 fe:00 5317768                    /opt/hbone-ztunnel
        Size:               8968 kB
        Anonymous:             0 kB
        55efbfe4d000-55efbfe4e000 r--p 00db5000 fe:00 5317768                    /opt/hbone-ztunnel
        Size:                  4 kB
        Anonymous:             4 kB
        55efc0195000-55efc01d5000 rw-p 010fc000 fe:00 5317768                    /opt/hbone-ztunnel
        Anonymous:           100 kB
        7f0000000000-7f0000100000 rw-p 00000000 00:00 0
        Anonymous:          1024 kB
        7f0000200000-7f0000201000 r--p 00000000 fe:00 42                         /tmp/a library with spaces.so
        Anonymous:             0 kB
        7ffd11fe0000-7ffd11fe2000 r-xp 00000000 00:00 0                          [vdso]
        Anonymous:             0 kB
        """;

    [Fact]
    [Trait("case", "MEM-05")]
    public void Only_read_only_file_mappings_without_anonymous_pages_are_chosen()
    {
        var chosen = StartupPages.ReadOnlyFileMappings(Smaps.Split('\n')).ToList();

        Assert.Equal(
            [
                Range(0x55efbf098000, 0x1e000),
                Range(0x55efbf0b6000, 0x8c2000),
                Range(0x7f0000200000, 0x1000),
            ],
            chosen);
    }

    [Fact]
    [Trait("case", "MEM-05")]
    public void An_unmapped_read_only_file_mapping_leaves_residency_and_reads_back_the_same_bytes()
    {
        const int Length = 4 << 20;
        string path = Path.Combine(Path.GetTempPath(), $"hbone-startup-pages-{Guid.NewGuid():N}");
        try
        {
            byte[] content = RandomNumberGenerator.GetBytes(Length);
            File.WriteAllBytes(path, content);
            using var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            using var view = file.CreateViewAccessor(0, Length, MemoryMappedFileAccess.Read);
            byte[] expected = SHA256.HashData(content);
            Assert.Equal(expected, HashView(view, Length));

            (nint Start, nuint Length) mapping = Assert.Single(
                StartupPages.ReadOnlyFileMappings(File.ReadLines("/proc/self/smaps")),
                m => m.Start == ViewStart(view));
            long residentBefore = ResidentKilobytes(mapping.Start);

            Assert.Equal(1, StartupPages.Unmap([mapping]));

            Assert.True(residentBefore >= Length / 1024, $"the view was read whole, yet only {residentBefore} KiB were resident");
            Assert.Equal(0, ResidentKilobytes(mapping.Start));
            Assert.Equal(expected, HashView(view, Length));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (nint Start, nuint Length) Range(long start, long length) => ((nint)start, (nuint)length);

    // The mmap address of the view (its handle), where its mapping's smaps entry starts.
    private static nint ViewStart(MemoryMappedViewAccessor view) => view.SafeMemoryMappedViewHandle.DangerousGetHandle();

    private static byte[] HashView(MemoryMappedViewAccessor view, int length)
    {
        byte[] copy = new byte[length];
        view.ReadArray(0, copy, 0, length);
        return SHA256.HashData(copy);
    }

    // The Rss line of the mapping that starts at start, from /proc/self/smaps.
    private static long ResidentKilobytes(nint start)
    {
        string header = $"{(ulong)start:x}-";
        bool inMapping = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            // A mapping's header starts with its address range; its fields ("Rss:", "Anonymous:") have no '-' in their name.
            if (line.Split(' ', 2)[0].Contains('-', StringComparison.Ordinal))
            {
                inMapping = line.StartsWith(header, StringComparison.Ordinal);
            }
            else if (inMapping && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new Xunit.Sdk.XunitException($"no mapping at {header} in /proc/self/smaps");
    }
}
