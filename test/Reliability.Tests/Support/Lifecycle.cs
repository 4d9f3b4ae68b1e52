namespace Csshim.Reliability.Tests.Support;

/// <summary>The steps a positive control takes through csshim, each asserted: create and start a container that runs
/// to its end, read what it printed, delete it and find nothing left.</summary>
public static class Lifecycle
{
    /// <summary>`create --pid-file`, `start`, wait for the container to stop; returns its output (trimmed), which
    /// goes to create's stdout (the container inherits it).</summary>
    public static string RunToEnd(Sandbox sb, RuntimeUnderTest rt, string bundle, string id, IEnumerable<string>? shimFlags = null)
    {
        sb.Track(rt, id);
        var create = sb.Shim(rt, ["create", "--bundle", bundle, "--pid-file", sb.PidFile(id), id], shimFlags);
        Assert.That(create.Status, Is.Zero, $"create of {id}: {create}");
        var start = sb.Shim(rt, ["start", id]);
        Assert.That(start.Status, Is.Zero, $"start of {id}: {start}");
        sb.WaitStopped(rt, id);
        return Proc.ReadOrEmpty(create.StdoutFile).Trim();
    }

    /// <summary>`create` then `start` of a container that keeps running (its bundle's process does not end).</summary>
    public static void Start(Sandbox sb, RuntimeUnderTest rt, string bundle, string id, IEnumerable<string>? shimFlags = null)
    {
        sb.Track(rt, id);
        var create = sb.Shim(rt, ["create", "--bundle", bundle, id], shimFlags);
        Assert.That(create.Status, Is.Zero, $"create of {id}: {create}");
        var start = sb.Shim(rt, ["start", id]);
        Assert.That(start.Status, Is.Zero, $"start of {id}: {start}");
    }

    /// <summary>`csshim delete --force`, then no mount, staging or container anywhere in the sandbox.</summary>
    public static void DeleteAndAssertClean(Sandbox sb, RuntimeUnderTest rt, string id)
    {
        var delete = sb.Shim(rt, ["delete", "--force", id]);
        Assert.That(delete.Status, Is.Zero, $"delete of {id}: {delete}");
        sb.AssertClean($"after the delete of {id}");
    }
}
