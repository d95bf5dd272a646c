using System.Net;

namespace Hbone.Ztunnel.Dns;

/// <summary>The upstream resolvers of a <c>resolv.conf</c> file (its <c>nameserver</c> lines), where unknown queries go.</summary>
internal sealed record ResolvConf(IReadOnlyList<IPEndPoint> Nameservers)
{
    private const int DnsPort = 53;

    /// <summary>Reads <paramref name="path"/>; a missing file, or one without a usable nameserver, is a <see cref="ZtunnelDnsException"/>.</summary>
    public static ResolvConf Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ZtunnelDnsException($"cannot read the upstream resolvers from {path}: {ex.Message}", ex);
        }

        ResolvConf conf = Parse(text);
        return conf.Nameservers.Count > 0 ? conf : throw new ZtunnelDnsException($"{path} names no nameserver to forward DNS queries to");
    }

    /// <summary>The nameservers in order; comments, other options and unparsable and link-local addresses (which need a zone) are skipped.</summary>
    public static ResolvConf Parse(string text)
    {
        var nameservers = new List<IPEndPoint>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            string[] fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2 && fields[0] == "nameserver" && IPAddress.TryParse(fields[1], out IPAddress? address) && !address.IsIPv6LinkLocal)
            {
                nameservers.Add(new IPEndPoint(address, DnsPort));
            }
        }

        return new ResolvConf(nameservers);
    }
}
