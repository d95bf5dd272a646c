using Hbone.Ztunnel.Dns;

namespace Hbone.Ztunnel.Tests.Dns;

/// <summary><see cref="ResolvConf"/>: the upstream resolvers, read as glibc reads resolv.conf.</summary>
public sealed class ResolvConfTests
{
    [Fact]
    public void Nameservers_are_read_in_order_and_everything_else_is_skipped()
    {
        ResolvConf conf = ResolvConf.Parse("# kubelet\nsearch default.svc.cluster.local\nnameserver 10.96.0.53\n; note\nnameserver\tfd00::53\nnameserver fe80::1%eth0\nnameserver dns.example\noptions ndots:5\n");

        Assert.Equal(["10.96.0.53:53", "[fd00::53]:53"], conf.Nameservers.Select(n => n.ToString()));
    }

    [Fact]
    public void A_file_without_nameservers_or_a_missing_file_is_a_one_line_typed_error()
    {
        string empty = Path.GetTempFileName();
        try
        {
            File.WriteAllText(empty, "search cluster.local\n");
            Assert.Equal($"{empty} names no nameserver to forward DNS queries to", Assert.Throws<ZtunnelDnsException>(() => ResolvConf.Load(empty)).Message);
            Assert.StartsWith("cannot read the upstream resolvers from /nonexistent/resolv.conf: ", Assert.Throws<ZtunnelDnsException>(() => ResolvConf.Load("/nonexistent/resolv.conf")).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(empty);
        }
    }
}
