using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Security.Cryptography;

namespace Csshim.Reliability.Tests;

/// <summary>Many containers staged at once through one state dir, and many snapshots of one container at once.</summary>
[TestFixture]
public class ConcurrencyTests : SandboxFixture
{

    /// <summary>How many cycles run at once: CSSHIM_LOAD_CYCLES (bench/reliability.sh sets 20), else a CI-sized 8.</summary>
    private static int LoadCycles =>
        int.TryParse(Environment.GetEnvironmentVariable("CSSHIM_LOAD_CYCLES"), out var n) && n > 0 ? n : 8;

    private sealed record Cycle(int Index, RuntimeUnderTest Runtime, string Id, string Bundle, string Expected);

    /// <summary>CSSHIM_LOAD_CYCLES create/start/delete cycles at once, alternating runc and runsc, half of them restoring
    /// their own archive: each container must print exactly its own archive's content (or nothing restored).</summary>
    [Test]
    public void Concurrent_create_start_delete_cycles_do_not_cross_talk()
    {
        int n = LoadCycles;
        var cycles = Enumerable.Range(0, n).Select(MakeCycle).ToList();
        var failures = new ConcurrentQueue<string>();
        var started = DateTime.UtcNow;
        var threads = cycles.Select(c => new Thread(() =>
        {
            try
            {
                RunCycle(c);
            }
            catch (Exception e)
            {
                failures.Enqueue($"cycle {c.Index} ({c.Runtime}, {c.Id}): {e.Message}");
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var elapsed = DateTime.UtcNow - started;

        int leaked = HostState.MountsUnder(sb.Dir).Count;
        Figures.Write("load", ("cycles", n), ("ok", n - failures.Count), ("seconds", elapsed.TotalSeconds.ToString("F1")), ("leaked-mounts", leaked));
        Assert.That(failures, Is.Empty);
        sb.AssertClean($"after {n} concurrent cycles");
    }

    private Cycle MakeCycle(int i)
    {
        var present = Runtimes.Present.ToList();
        var rt = present[i % present.Count];
        // Same-length ids: runsc resolves an id by prefix and calls load-1 ambiguous next to load-13 (covered below).
        var id = sb.Track(rt, $"load-{i:D3}");
        bool annotated = i / 2 % 2 == 0;
        var expected = annotated ? $"cycle {i} {Guid.NewGuid():N}" : "none";
        var annotations = annotated ? ArchivePolicyTests.Annotated(sb.Archive($"cycle-{i}", Sandbox.Text("dir/file", expected))) : null;
        var bundle = sb.Bundle(id, ["sh", "-c", "cat /dir/file 2>/dev/null || echo none"], annotations);
        return new Cycle(i, rt, id, bundle, expected);
    }

    private void RunCycle(Cycle c)
    {
        var create = sb.Shim(c.Runtime, ["create", "--bundle", c.Bundle, "--pid-file", sb.PidFile(c.Id), c.Id], ["--allow-rootfs-tar-annotation"]);
        if (create.Status != 0) throw new InvalidOperationException($"create: {create}");
        var start = sb.Shim(c.Runtime, ["start", c.Id]);
        if (start.Status != 0) throw new InvalidOperationException($"start: {start}");
        sb.WaitStopped(c.Runtime, c.Id);
        var output = Proc.ReadOrEmpty(create.StdoutFile).Trim();
        if (output != c.Expected) throw new InvalidOperationException($"container printed \"{output}\", expected \"{c.Expected}\"");
        var delete = sb.Shim(c.Runtime, ["delete", c.Id]);
        if (delete.Status != 0) throw new InvalidOperationException($"delete: {delete}; state now: {sb.Runtime(c.Runtime, "state", c.Id)}");
        if (sb.Stagings().Any(s => Path.GetFileName(s) == c.Id)) throw new InvalidOperationException("staging left after delete");
    }

    /// <summary>runsc answers `state ID` with the only container whose id starts with ID: csshim must not take a
    /// longer id's answer for this one — a lost "xt-1" next to a live "xt-13" is still garbage.</summary>
    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void An_id_that_is_a_prefix_of_another_is_not_confused_with_it(string runtime)
    {
        var rt = Runtimes.Named(runtime);
        var lost = sb.Track(rt, "xt-1");
        var live = sb.Track(rt, "xt-13");
        Assert.That(sb.Shim(rt, ["create", "--bundle", sb.Bundle(lost, ["sleep", "1000"]), lost]).Status, Is.Zero);
        // Removed behind csshim's back before the longer id exists (runsc 2022 cannot tell the two apart after).
        Assert.That(sb.Runtime(rt, "delete", "--force", lost).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["create", "--bundle", sb.Bundle(live, ["sleep", "1000"]), live]).Status, Is.Zero);

        var gc = sb.Shim(rt, ["gc"]);
        Assert.Multiple(() =>
        {
            Assert.That(gc.Stdout, Does.Contain($"remove {lost}"), $"gc: {gc}");
            Assert.That(gc.Stdout, Does.Contain($"keep {live}"), $"gc: {gc}");
            Assert.That(sb.Stagings().Select(Path.GetFileName), Is.EquivalentTo(new[] { live }), "stagings after gc");
        });
        Assert.That(sb.Shim(rt, ["delete", "--force", live]).Status, Is.Zero);
        sb.AssertClean("after deleting both");
    }

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Concurrent_snapshots_of_one_container_are_complete_and_equal(string runtime)
    {
        const int Snapshots = 5;
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("base", new Dictionary<string, byte[]>
        {
            ["dir/file"] = "restored"u8.ToArray(),
            ["dir/big"] = RandomNumberGenerator.GetBytes(1 << 20),
        });
        var bundle = sb.Bundle("snap", ["sh", "-c", "echo written > /written; sleep 1000"], ArchivePolicyTests.Annotated(archive));
        var id = sb.Track(rt, "snap");
        Assert.That(sb.Shim(rt, ["create", "--bundle", bundle, id], ["--allow-rootfs-tar-annotation"]).Status, Is.Zero);
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        var written = Path.Combine(sb.StagingOf(id), "layer", "upper", "written");
        HostState.WaitUntil(() => File.Exists(written) && File.ReadAllText(written) == "written\n", TimeSpan.FromSeconds(30), "the container's write");

        var files = Enumerable.Range(0, Snapshots).Select(i => Path.Combine(sb.Dir, $"snap-{i}.tar")).ToArray();
        var results = new ProcResult[Snapshots];
        var threads = Enumerable.Range(0, Snapshots)
            .Select(i => new Thread(() => results[i] = sb.Shim(rt, ["tar", "rootfs-upper", "--file", files[i], id]))).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        var contents = files.Select(Contents).ToList();
        Assert.Multiple(() =>
        {
            for (int i = 0; i < Snapshots; i++) Assert.That(results[i].Status, Is.Zero, $"snapshot {i}: {results[i]}");
            Assert.That(contents[0], Does.ContainKey("./written").And.ContainKey("./dir/big"), "the snapshot misses the upper's files");
            for (int i = 1; i < Snapshots; i++) Assert.That(contents[i], Is.EqualTo(contents[0]), $"snapshot {i} differs from snapshot 0");
        });
        bool identical = files.Skip(1).All(f => File.ReadAllBytes(f).SequenceEqual(File.ReadAllBytes(files[0])));
        Figures.Write("concurrent-snapshots", ("runtime", rt), ("n", Snapshots), ("complete", Snapshots), ("byte-identical", identical ? "yes" : "no"));
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after the snapshots and delete");
    }

    /// <summary>Racing creates of one id (a client retrying, two clients): one wins, the others are told the id
    /// exists, and none of them tears down the winner's staging while its runtime create is under way.</summary>
    [TestCase("runc"), TestCase("runsc-2022")]
    public void Racing_creates_of_one_id_leave_one_working_container(string runtime)
    {
        const int Racers = 5;
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("race", new Dictionary<string, byte[]>
        {
            ["dir/file"] = "raced"u8.ToArray(),
            ["dir/big"] = new byte[8 << 20], // long enough a staging for the racers to meet it
        });
        var bundle = sb.Bundle("race", ["sh", "-c", "cat /dir/file"], ArchivePolicyTests.Annotated(archive));
        var id = sb.Track(rt, "race");
        var results = new ProcResult[Racers];
        var threads = Enumerable.Range(0, Racers)
            .Select(i => new Thread(() => results[i] = sb.Shim(rt, ["create", "--bundle", bundle, "--pid-file", sb.PidFile(id), id], ["--allow-rootfs-tar-annotation"])))
            .ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        var winners = results.Where(r => r.Status == 0).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(winners, Has.Count.EqualTo(1), "creates that succeeded");
            foreach (var loser in results.Where(r => r.Status != 0))
                Assert.That(loser.Stderr, Does.Contain("already exists"), "a losing create does not say the id exists");
        });
        Assert.That(sb.Shim(rt, ["start", id]).Status, Is.Zero);
        sb.WaitStopped(rt, id);
        Assert.That(Proc.ReadOrEmpty(winners[0].StdoutFile).Trim(), Is.EqualTo("raced"), "the winner's container did not see its rootfs");
        Assert.That(sb.Shim(rt, ["delete", id]).Status, Is.Zero);
        sb.AssertClean("after the race and delete");
    }

    /// <summary>While a create or delete holds a staging's lock (held here with flock(1), as csshim holds it),
    /// gc reports the staging busy and leaves it, and a snapshot waits for the lock rather than failing.</summary>
    [Test]
    public void Gc_and_snapshot_wait_out_a_held_staging_lock()
    {
        var rt = Runtimes.Runc;
        var id = sb.Track(rt, "locked");
        Assert.That(sb.Shim(rt, ["create", "--bundle", sb.Bundle(id, ["sleep", "1000"]), id]).Status, Is.Zero);
        var staging = sb.StagingOf(id);
        var held = Path.Combine(sb.Dir, "held");
        using var holder = System.Diagnostics.Process.Start("/usr/bin/flock",
            ["--exclusive", staging + ".lock", "/bin/sh", "-c", $"touch {held}; sleep 3"])!;
        HostState.WaitUntil(() => File.Exists(held), TimeSpan.FromSeconds(10), "flock to take the lock");

        var gc = sb.Shim(rt, ["gc"]);
        var snapshot = Path.Combine(sb.Dir, "locked.tar");
        var tar = sb.Shim(rt, ["tar", "rootfs-upper", "--file", snapshot, id]);
        holder.WaitForExit();
        Assert.Multiple(() =>
        {
            Assert.That(gc.Status, Is.Zero, $"gc: {gc}");
            Assert.That(gc.Stdout, Does.Contain($"busy {staging}"), $"gc: {gc}");
            Assert.That(Directory.Exists(staging), Is.True, "gc removed a locked staging");
            Assert.That(tar.Status, Is.Zero, $"tar: {tar}");
            Assert.That(File.Exists(snapshot), Is.True, "no snapshot after the lock was released");
        });
        Assert.That(sb.Shim(rt, ["delete", "--force", id]).Status, Is.Zero);
        sb.AssertClean("after delete");
    }

    /// <summary>Entry name → type, mode and a digest of its data, read to the end-of-archive marker (a partial
    /// archive throws here).</summary>
    private static Dictionary<string, string> Contents(string archive)
    {
        var entries = new Dictionary<string, string>();
        using var stream = File.OpenRead(archive);
        using var reader = new TarReader(stream);
        while (reader.GetNextEntry() is { } e)
        {
            var data = e.DataStream is null ? "" : Convert.ToHexString(SHA256.HashData(e.DataStream));
            entries[e.Name] = $"{e.EntryType} {Convert.ToString((int)e.Mode, 8)} {e.LinkName} {data}";
        }
        return entries;
    }
}
