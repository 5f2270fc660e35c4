using System.Globalization;

namespace Kraft.Broker.Configuration;

/// <summary>The roles a node plays (process.roles). Both set is Kafka's combined mode.</summary>
[Flags]
public enum ProcessRoles
{
    None = 0,
    Broker = 1,
    Controller = 2,
}

/// <summary>A host and port. An empty host means all interfaces (for a bind address). Immutable.</summary>
public sealed record HostPort(string Host, int Port)
{
    /// <summary>Parses "host:port", "[v6]:port" or ":port"; returns an error text (without the key) on failure.</summary>
    public static bool TryParse(string text, out HostPort? value, out string? error)
    {
        value = null;
        error = null;
        var colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            error = $"'{text}' is not host:port";
            return false;
        }

        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            error = $"'{text}': put an IPv6 host in brackets, e.g. [::1]:9092";
            return false;
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        {
            error = $"'{text}' has an invalid port (0-65535)";
            return false;
        }

        if (host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@' or ','))
        {
            error = $"'{text}' has an invalid host";
            return false;
        }

        value = new HostPort(host, port);
        return true;
    }

    /// <summary>"host:port", with IPv6 hosts in brackets.</summary>
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>A listener: NAME://host:port. Names are upper-cased, as Kafka normalises them. Immutable.</summary>
public sealed record ListenerEndpoint(string Name, string Host, int Port)
{
    /// <summary>Parses "NAME://host:port"; returns an error text (without the key) on failure.</summary>
    public static bool TryParse(string text, out ListenerEndpoint? value, out string? error)
    {
        value = null;
        var sep = text.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0)
        {
            error = $"'{text}' is not NAME://host:port";
            return false;
        }

        var name = text[..sep].ToUpperInvariant();
        if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            error = $"'{text}' has an invalid listener name (letters, digits, _)";
            return false;
        }

        var hostPort = text[(sep + 3)..];
        if (!HostPort.TryParse(hostPort, out var hp, out error))
        {
            error = error!.Replace($"'{hostPort}'", $"'{text}'", StringComparison.Ordinal);
            return false;
        }

        value = new ListenerEndpoint(name, hp!.Host, hp.Port);
        return true;
    }

    /// <summary>NAME://host:port.</summary>
    public override string ToString() => $"{Name}://{new HostPort(Host, Port)}";
}

/// <summary>A member of the static metadata quorum: id@host:port (controller.quorum.voters). Immutable.</summary>
public sealed record QuorumVoter(int Id, string Host, int Port)
{
    /// <summary>Parses "id@host:port"; returns an error text (without the key) on failure.</summary>
    public static bool TryParse(string text, out QuorumVoter? value, out string? error)
    {
        value = null;
        var at = text.IndexOf('@', StringComparison.Ordinal);
        if (at <= 0 || !int.TryParse(text.AsSpan(0, at), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            error = $"'{text}' is not id@host:port";
            return false;
        }

        var hostPort = text[(at + 1)..];
        if (!HostPort.TryParse(hostPort, out var hp, out error))
        {
            error = error!.Replace($"'{hostPort}'", $"'{text}'", StringComparison.Ordinal);
            return false;
        }

        if (hp!.Host.Length == 0 || hp.Port == 0)
        {
            error = $"'{text}' needs a host and a non-zero port";
            return false;
        }

        value = new QuorumVoter(id, hp.Host, hp.Port);
        return true;
    }

    /// <summary>id@host:port.</summary>
    public override string ToString() => $"{Id}@{new HostPort(Host, Port)}";
}
