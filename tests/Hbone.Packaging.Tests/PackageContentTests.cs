using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;

namespace Hbone.Packaging.Tests;

/// <summary>What users get from the public feed: each package's files, nuspec metadata, dependencies and symbols.</summary>
public sealed class PackageContentTests
{
    private const string RepositoryUrl = "https://github.com/hbone-dotnet/hbone";

    // PortableCustomDebugInfoKinds.SourceLink.
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    // Test, build, benchmark and program-only packages from Directory.Packages.props: none may reach a user's dependency graph.
    private static readonly string[] BuildOnlyPackages =
    [
        "Grpc.Tools", "Microsoft.NET.Test.Sdk", "xunit", "xunit.runner.visualstudio", "FsCheck", "FSharp.Core",
        "BenchmarkDotNet", "Microsoft.Diagnostics.Runtime", "Grpc.AspNetCore", "YamlDotNet", "System.CommandLine", "KubernetesClient",
        "OpenTelemetry", "OpenTelemetry.Exporter.Prometheus.AspNetCore",
    ];

    public static TheoryData<string> PackageIds => new() { "Hbone", "Hbone.Kestrel", "Hbone.Istio" };

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_01_The_package_exists_at_the_current_version_with_its_id(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        Assert.Equal(id, PackedPackage.Element(package.Metadata, "id").Value);
        Assert.Equal(PackedPackage.CurrentVersion, PackedPackage.Element(package.Metadata, "version").Value);
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_02_README_is_at_the_root_and_declared_in_the_nuspec(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        Assert.Equal("README.md", PackedPackage.Element(package.Metadata, "readme").Value);
        string readme = Encoding.UTF8.GetString(package.ReadEntry("README.md"));
        Assert.StartsWith("# " + id, readme, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_03_LICENSE_is_the_Apache_2_text_and_the_nuspec_keeps_the_expression(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        XElement license = PackedPackage.Element(package.Metadata, "license");
        Assert.Equal("expression", license.Attribute("type")?.Value);
        Assert.Equal("Apache-2.0", license.Value);
        string text = Encoding.UTF8.GetString(package.ReadEntry("LICENSE"));
        Assert.Contains("Apache License", text, StringComparison.Ordinal);
        Assert.Contains("Version 2.0, January 2004", text, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Path.Combine(PackedPackage.RepositoryRoot, "LICENSE")), text);
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_04_The_assembly_and_its_XML_docs_are_under_lib_net10_0(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        byte[] dll = package.ReadEntry($"lib/net10.0/{id}.dll");
        using (PEReader pe = new(new MemoryStream(dll)))
        {
            MetadataReader metadata = pe.GetMetadataReader();
            Assert.Equal(id, metadata.GetString(metadata.GetAssemblyDefinition().Name));
        }

        XDocument docs = XDocument.Load(new MemoryStream(package.ReadEntry($"lib/net10.0/{id}.xml")));
        Assert.Equal(id, docs.Root?.Element("assembly")?.Element("name")?.Value);
        Assert.NotEmpty(docs.Root!.Element("members")!.Elements("member"));
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_05_The_nuspec_names_the_git_repository_and_commit(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        XElement repository = PackedPackage.Element(package.Metadata, "repository");
        Assert.Equal("git", repository.Attribute("type")?.Value);
        Assert.Equal(RepositoryUrl, repository.Attribute("url")?.Value);
        Assert.Matches("^[0-9a-f]{40}$", repository.Attribute("commit")?.Value ?? "");
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_06_The_snupkg_holds_the_PDB_with_SourceLink_to_the_packed_commit(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);
        string commit = PackedPackage.Element(package.Metadata, "repository").Attribute("commit")?.Value ?? "";
        using var symbols = package.OpenSymbols();

        byte[] pdb = PackedPackage.ReadEntry(symbols, $"lib/net10.0/{id}.pdb", Path.ChangeExtension(package.FilePath, ".snupkg"));
        using MetadataReaderProvider provider = MetadataReaderProvider.FromPortablePdbStream(new MemoryStream(pdb));
        MetadataReader reader = provider.GetMetadataReader();
        string? sourceLink = null;
        foreach (CustomDebugInformationHandle handle in reader.GetCustomDebugInformation(EntityHandle.ModuleDefinition))
        {
            CustomDebugInformation info = reader.GetCustomDebugInformation(handle);
            if (reader.GetGuid(info.Kind) == SourceLinkKind)
            {
                sourceLink = Encoding.UTF8.GetString(reader.GetBlobBytes(info.Value));
            }
        }

        Assert.True(sourceLink is not null, $"{id}.pdb carries no SourceLink: debuggers could not fetch its sources");
        using JsonDocument json = JsonDocument.Parse(sourceLink);
        string[] urls = [.. json.RootElement.GetProperty("documents").EnumerateObject().Select(p => p.Value.GetString()!)];
        string expected = $"https://raw.githubusercontent.com/hbone-dotnet/hbone/{commit}/*";
        Assert.True(urls.Contains(expected),
            $"{id}.pdb maps sources to [{string.Join(", ", urls)}], not {expected}: the PDB and the nuspec disagree on the commit " +
            "(built at one commit, packed at another?) or SourceLink lost the repository URL");
    }

    [Fact]
    public void PKG_07_Hbone_depends_on_its_pinned_runtime_packages_only()
    {
        using PackedPackage package = PackedPackage.Open("Hbone");

        Dictionary<string, string> dependencies = Net10Dependencies(package);

        AssertPinned(dependencies, "Polly.Core");
        AssertPinned(dependencies, "Microsoft.Extensions.Logging.Abstractions");
        AssertPinned(dependencies, "Microsoft.Extensions.Options");
    }

    [Fact]
    public void PKG_08_Hbone_Kestrel_depends_on_Hbone_at_the_same_version()
    {
        using PackedPackage package = PackedPackage.Open("Hbone.Kestrel");

        Dictionary<string, string> dependencies = Net10Dependencies(package);

        Assert.Equal(PackedPackage.CurrentVersion, Assert.Contains("Hbone", dependencies));
    }

    [Fact]
    public void PKG_09_Hbone_Istio_depends_on_Hbone_protobuf_gRPC_client_and_Polly_at_exact_versions()
    {
        using PackedPackage package = PackedPackage.Open("Hbone.Istio");

        Dictionary<string, string> dependencies = Net10Dependencies(package);

        Assert.Equal(PackedPackage.CurrentVersion, Assert.Contains("Hbone", dependencies));
        Assert.Equal("3.36.2", Assert.Contains("Google.Protobuf", dependencies));
        Assert.Equal("2.85.0", Assert.Contains("Grpc.Net.Client", dependencies));
        AssertPinned(dependencies, "Polly.Core");
    }

    [Theory]
    [MemberData(nameof(PackageIds))]
    public void PKG_10_No_package_depends_on_a_test_or_build_only_package(string id)
    {
        using PackedPackage package = PackedPackage.Open(id);

        Dictionary<string, string> dependencies = Net10Dependencies(package);

        Assert.Empty(dependencies.Keys.Intersect(BuildOnlyPackages, StringComparer.OrdinalIgnoreCase));
    }

    [Fact]
    public void PKG_11_Hbone_Istio_ships_the_generated_public_protobuf_and_gRPC_types()
    {
        using PackedPackage package = PackedPackage.Open("Hbone.Istio");
        using PEReader pe = new(new MemoryStream(package.ReadEntry("lib/net10.0/Hbone.Istio.dll")));
        MetadataReader metadata = pe.GetMetadataReader();

        HashSet<string> publicTypes = [];
        foreach (TypeDefinitionHandle handle in metadata.TypeDefinitions)
        {
            TypeDefinition type = metadata.GetTypeDefinition(handle);
            TypeAttributes visibility = type.Attributes & TypeAttributes.VisibilityMask;
            if (visibility == TypeAttributes.Public)
            {
                publicTypes.Add($"{metadata.GetString(type.Namespace)}.{metadata.GetString(type.Name)}");
            }
            else if (visibility == TypeAttributes.NestedPublic)
            {
                TypeDefinition outer = metadata.GetTypeDefinition(type.GetDeclaringType());
                publicTypes.Add($"{metadata.GetString(outer.Namespace)}.{metadata.GetString(outer.Name)}+{metadata.GetString(type.Name)}");
            }
        }

        Assert.Contains("Hbone.Istio.Protos.Workload.Workload", publicTypes);
        Assert.Contains("Hbone.Istio.Protos.Ca.IstioCertificateRequest", publicTypes);
        Assert.Contains("Hbone.Istio.Protos.Ca.IstioCertificateService+IstioCertificateServiceClient", publicTypes);
        Assert.Contains("Hbone.Istio.Protos.Envoy.Discovery.AggregatedDiscoveryService+AggregatedDiscoveryServiceClient", publicTypes);
        Assert.Contains("Hbone.Istio.ControlPlane.ControlPlaneChannel", publicTypes);
    }

    /// <summary>The net10.0 dependency group (the only one) as id to version, as the nuspec writes them.</summary>
    private static Dictionary<string, string> Net10Dependencies(PackedPackage package)
    {
        XElement[] groups = [.. PackedPackage.Element(package.Metadata, "dependencies").Elements().Where(e => e.Name.LocalName == "group")];
        XElement group = Assert.Single(groups);
        Assert.Equal("net10.0", group.Attribute("targetFramework")?.Value);
        return group.Elements()
            .Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The dependency is there at exactly the version Directory.Packages.props pins.</summary>
    private static void AssertPinned(Dictionary<string, string> dependencies, string id)
    {
        Assert.Equal(PinnedVersion(id), Assert.Contains(id, dependencies));
    }

    private static string PinnedVersion(string id)
    {
        XDocument props = XDocument.Load(Path.Combine(PackedPackage.RepositoryRoot, "Directory.Packages.props"));
        string? version = props.Descendants("PackageVersion").SingleOrDefault(e => e.Attribute("Include")?.Value == id)?.Attribute("Version")?.Value;
        return version ?? throw new Xunit.Sdk.XunitException($"Directory.Packages.props pins no version of {id}");
    }
}
