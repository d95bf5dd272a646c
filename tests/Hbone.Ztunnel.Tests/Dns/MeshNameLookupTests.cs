using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Dns;
using Hbone.Ztunnel.State;

using static Hbone.Ztunnel.Tests.Dns.DnsFixtures;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary><see cref="MeshNameLookup"/>: the names ztunnel's DNS proxy answers for, and with what.</summary>
public sealed class MeshNameLookupTests
{
    private static readonly MeshNameLookup Names = new();
    private static readonly Workload Client = Pod("client", "default", "10.244.1.2");
    private static readonly WorkloadSnapshot Snapshot = new(new LocalConfig(
        [
            Client,
            Pod("db-0", "data", "10.244.2.5", "fd00::5", service: "data/db.data.svc.cluster.local"),
            Pod("db-1", "data", "10.244.2.6", service: "data/db.data.svc.cluster.local"),
        ],
        [
            Svc("echo", "default", "echo.default.svc.cluster.local", "10.96.0.10", "fd00:96::10"),
            Svc("db", "data", "db.data.svc.cluster.local"),
            Svc("wild", "default", "*.wild.example.com", "10.96.0.20"),
            Svc("no-vip", "default", "external.example.com"),
            Svc("remote", "default", "remote.default.svc.cluster.local", "10.96.0.30") with { Vips = [new NetworkAddress("net-2", IPAddress.Parse("10.96.0.30"))] },
        ],
        []));

    [Theory]
    [InlineData("echo")]
    [InlineData("echo.default")]
    [InlineData("echo.default.svc")]
    [InlineData("echo.default.svc.cluster.local")]
    [InlineData("echo.default.svc.cluster.local.")]
    [InlineData("ECHO.Default.SVC.cluster.local")]
    [Trait("case", "INT-04")]
    public void Every_Kubernetes_form_of_a_service_name_answers_its_VIP_under_the_name_asked(string asked)
    {
        MeshAnswer? answer = Names.Lookup(Snapshot, Client, asked, AddressFamily.InterNetwork);

        Assert.NotNull(answer);
        Assert.Equal((null, asked.TrimEnd('.')), (answer.AliasOf, answer.OwnerName));
        Assert.Equal([IPAddress.Parse("10.96.0.10")], answer.Addresses);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void AAAA_answers_the_IPv6_VIP_only()
    {
        Assert.Equal([IPAddress.Parse("fd00:96::10")], Names.Lookup(Snapshot, Client, "echo", AddressFamily.InterNetworkV6)!.Addresses);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_name_with_a_search_domain_appended_by_the_resolver_is_a_CNAME_to_the_service()
    {
        MeshAnswer? answer = Names.Lookup(Snapshot, Client, "echo.default.svc.cluster.local.default.svc.cluster.local", AddressFamily.InterNetwork);

        Assert.Equal(("echo.default.svc.cluster.local.default.svc.cluster.local", "echo.default.svc.cluster.local"), (answer!.AliasOf, answer.OwnerName));
        Assert.Equal([IPAddress.Parse("10.96.0.10")], answer.Addresses);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_headless_service_answers_one_address_of_the_family_per_pod()
    {
        Assert.Equal(["10.244.2.5", "10.244.2.6"], Names.Lookup(Snapshot, Client, "db.data", AddressFamily.InterNetwork)!.Addresses.Select(a => a.ToString()));
        Assert.Equal(["fd00::5"], Names.Lookup(Snapshot, Client, "db.data", AddressFamily.InterNetworkV6)!.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void A_wildcard_host_answers_any_name_under_it_without_a_CNAME()
    {
        MeshAnswer? answer = Names.Lookup(Snapshot, Client, "api.v1.wild.example.com", AddressFamily.InterNetwork);

        Assert.Equal((null, "api.v1.wild.example.com"), (answer!.AliasOf, answer.OwnerName));
        Assert.Equal([IPAddress.Parse("10.96.0.20")], answer.Addresses);
    }

    [Fact]
    [Trait("case", "INT-04")]
    public void VIPs_of_another_network_are_not_answered_but_the_name_is_still_the_mesh_s()
    {
        MeshAnswer? answer = Names.Lookup(Snapshot, Client, "remote", AddressFamily.InterNetwork);

        Assert.NotNull(answer);
        Assert.Empty(answer.Addresses);
    }

    [Theory]
    [InlineData("example.org")]
    [InlineData("external.example.com")] // no VIP and not a .svc name: the upstream knows it
    [InlineData("echo.other")]
    [InlineData("nothing.default.svc.cluster.local")]
    [InlineData("")]
    [Trait("case", "INT-04")]
    public void Names_the_mesh_does_not_own_go_upstream(string asked)
    {
        Assert.Null(Names.Lookup(Snapshot, Client, asked, AddressFamily.InterNetwork));
    }

    [Fact]
    public void A_pod_in_another_namespace_resolves_short_names_in_its_own()
    {
        Workload other = Pod("other", "data", "10.244.2.9");

        Assert.Null(Names.Lookup(Snapshot, other, "echo", AddressFamily.InterNetwork));
        Assert.NotNull(Names.Lookup(Snapshot, other, "db", AddressFamily.InterNetwork));
    }

}
