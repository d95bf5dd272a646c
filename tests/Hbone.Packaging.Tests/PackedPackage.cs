using System.IO.Compression;
using System.Reflection;
using System.Xml.Linq;

namespace Hbone.Packaging.Tests;

/// <summary>One package as users get it: the .nupkg from artifacts/packages, its nuspec, and the .snupkg next to it.</summary>
internal sealed class PackedPackage : IDisposable
{
    public static readonly string RepositoryRoot = FindRepositoryRoot();

    public static readonly string PackagesDirectory = Path.Combine(RepositoryRoot, "artifacts", "packages");

    /// <summary>The version the packages are built with (VersionPrefix in Directory.Build.props), baked in at build time.</summary>
    public static readonly string CurrentVersion = typeof(PackedPackage).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "HbonePackageVersion").Value!;

    private static readonly TimeSpan SharingDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SharingPoll = TimeSpan.FromMilliseconds(200);

    private PackedPackage(string id, string path)
    {
        Id = id;
        FilePath = path;
        Archive = OpenRead(path);
        ZipArchiveEntry nuspec = Archive.GetEntry(id + ".nuspec")
            ?? throw new Xunit.Sdk.XunitException($"{path} has no {id}.nuspec at its root");
        using Stream stream = nuspec.Open();
        Nuspec = XDocument.Load(stream);
    }

    public string Id { get; }

    public string FilePath { get; }

    public ZipArchive Archive { get; }

    public XDocument Nuspec { get; }

    /// <summary>The nuspec's metadata element; nuspec elements live in a versioned namespace, so match by local name.</summary>
    public XElement Metadata => Element(Nuspec.Root!, "metadata");

    public static PackedPackage Open(string id)
    {
        string path = Path.Combine(PackagesDirectory, $"{id}.{CurrentVersion}.nupkg");
        Assert.True(File.Exists(path),
            $"{path} is missing: run ./scripts/test.sh (it packs src/Hbone, src/Hbone.Kestrel and src/Hbone.Istio before testing), " +
            $"or `dotnet pack src/{id} -c Release` after a Release build.");
        return new PackedPackage(id, path);
    }

    /// <summary>The symbol package next to the .nupkg; fails naming scripts/test.sh when it is missing.</summary>
    public ZipArchive OpenSymbols()
    {
        string path = Path.ChangeExtension(FilePath, ".snupkg");
        Assert.True(File.Exists(path), $"{path} is missing: packing {Id} should write it (IncludeSymbols, snupkg); run ./scripts/test.sh.");
        return OpenRead(path);
    }

    /// <summary>
    /// Opens a package for reading, waiting (up to a deadline) while another process holds it exclusively: a `dotnet pack`
    /// run beside the tests rewrites the file under an exclusive lock, and the test should read the result, not fail.
    /// </summary>
    private static ZipArchive OpenRead(string path)
    {
        // .NET reports a held lock as ERROR_SHARING_VIOLATION on Windows and as the raw EWOULDBLOCK (11) from flock on Linux.
        const int SharingViolation = unchecked((int)0x80070020), WouldBlock = 11;
        DateTime deadline = DateTime.UtcNow + SharingDeadline;
        while (true)
        {
            try
            {
                return ZipFile.OpenRead(path);
            }
            catch (IOException e) when (e.HResult is SharingViolation or WouldBlock && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(SharingPoll);
            }
        }
    }

    public byte[] ReadEntry(string entryPath) => ReadEntry(Archive, entryPath, FilePath);

    public static byte[] ReadEntry(ZipArchive archive, string entryPath, string archivePath)
    {
        ZipArchiveEntry entry = archive.GetEntry(entryPath)
            ?? throw new Xunit.Sdk.XunitException(
                $"{archivePath} has no {entryPath}; it has: {string.Join(", ", archive.Entries.Select(e => e.FullName))}");
        using Stream stream = entry.Open();
        using MemoryStream buffer = new();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    public static XElement Element(XElement parent, string localName) =>
        parent.Elements().SingleOrDefault(e => e.Name.LocalName == localName)
        ?? throw new Xunit.Sdk.XunitException($"nuspec element <{parent.Name.LocalName}> has no <{localName}>");

    public void Dispose() => Archive.Dispose();

    private static string FindRepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Hbone.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Hbone.sln above {AppContext.BaseDirectory}");
    }
}
