namespace Hbone.Packaging.Tests;

/// <summary>
/// Every library package checks its public API against the last release when it is packed (EnablePackageValidation), and
/// the release it compares with is checked in (eng/baseline), so a breaking change fails the pack, offline too.
/// </summary>
public sealed class PackageValidationTests
{
    private static readonly string SourceDirectory = Path.Combine(PackedPackage.RepositoryRoot, "src");
    private static readonly string BaselineDirectory = Path.Combine(PackedPackage.RepositoryRoot, "eng", "baseline");

    public static TheoryData<string> SourceProjects
    {
        get
        {
            var projects = new TheoryData<string>();
            foreach (string project in Directory.GetFiles(SourceDirectory, "*.csproj", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            {
                projects.Add(Path.GetRelativePath(PackedPackage.RepositoryRoot, project));
            }

            return projects;
        }
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public async Task PKG_12_Every_packable_library_under_src_validates_its_package_against_a_checked_in_baseline(string project)
    {
        IReadOnlyDictionary<string, string> p = await MsBuildProperties.EvaluateAsync(
            project, "IsPackable", "PackAsTool", "PackageId", "EnablePackageValidation", "PackageValidationBaselineVersion");

        // A .NET tool (Hbone.Cli) ships a program, not an API: there is nothing for package validation to compare.
        if (!IsTrue(p["IsPackable"]) || IsTrue(p["PackAsTool"]))
        {
            return;
        }

        Assert.True(IsTrue(p["EnablePackageValidation"]),
            $"{project} is packable but EnablePackageValidation is '{p["EnablePackageValidation"]}': API breaks would reach users unnoticed. " +
            "Leave the src/Directory.Build.props default (true) on, and see eng/baseline/README.md for its baseline.");
        if (p["PackageValidationBaselineVersion"] is { Length: > 0 } baseline)
        {
            string package = Path.Combine(BaselineDirectory, $"{p["PackageId"]}.{baseline}.nupkg");
            Assert.True(File.Exists(package),
                $"{project} validates against {p["PackageId"]} {baseline}, but {package} is not checked in: restore would need a feed. See eng/baseline/README.md.");
        }
    }

    private static bool IsTrue(string value) => string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);
}
