namespace Csshim.Tests;

/// <summary>
/// Where staging meets a runtime that says no: a refused create must unwind, and a refused second create or
/// delete must not take the staging away from a container that still lives.
/// </summary>
[PerRuntime]
public class StagingEdgeTests(string runtime) : IntegrationFixture(runtime)
{
    [Test]
    public void CreateRefusedByTheRuntime_FailsLikeIt_AndUnwinds()
    {
        // An empty args array: both runtimes refuse the spec; csshim has staged by then.
        var (direct, dId, shim, sId) = SideBySide("refused");
        var dBundle = NewBundle("direct");
        var sBundle = NewBundle("shim");
        dBundle.Process["args"] = new JArray();
        sBundle.Process["args"] = new JArray();
        dBundle.Save();
        sBundle.Save();
        var originalRoot = sBundle.ReadConfigFromDisk()["root"]!.DeepClone();

        var d = direct.Run("create", "--bundle", dBundle.Dir, dId);
        var s = shim.Run("create", "--bundle", sBundle.Dir, sId);

        Assert.That(d.ExitCode, Is.Not.Zero, $"the runtime accepted empty args: {d}");
        AssertSameOutcome("create with empty args", d, dId, s, sId);
        Assert.Multiple(() =>
        {
            Assert.That(NewMounts(), Is.Empty, "staging mounts after a refused create");
            Assert.That(StagedContainers(shim), Is.Empty, "staging dirs after a refused create");
            Assert.That(JToken.DeepEquals(sBundle.ReadConfigFromDisk()["root"], originalRoot), Is.True,
                $"config.json root after a refused create: {sBundle.ReadConfigFromDisk()["root"]}");
        });
    }

    [Test]
    public void SecondCreateWithTheSameId_FailsLikeTheRuntime_AndKeepsTheFirstContainersRootfs()
    {
        var shim = Shim();
        var sId = NewId(shim, "dup");
        var sBundle = NewBundle("shim1", "sleep", "30");
        AssertSucceeded(shim.Run("create", "--bundle", sBundle.Dir, sId), "csshim create");
        var mountsBefore = NewMounts();

        var s = shim.Run("create", "--bundle", NewBundle("shim2", "sleep", "30").Dir, sId);

        Assert.That(NewMounts(), Is.EquivalentTo(mountsBefore), "the failed duplicate changed the mounts");
        // The first container must still be able to run from its staged rootfs.
        AssertSucceeded(shim.Run("start", sId), "csshim start of the first container after the failed duplicate");
        WaitForStatus(shim, sId, "running");
        var exec = shim.Run("exec", sId, "ls", "/bin/busybox");
        AssertSucceeded(exec, "exec in the first container after the failed duplicate");
        AssertSucceeded(shim.Run("delete", "--force", sId), "csshim delete --force");
        // csshim may word the reason itself, but the status is the runtime's. The runtime's own duplicate create
        // is not run here: runsc's loses the first container's record and leaves its sandbox running. Both runsc
        // builds say "cannot lock container metadata file: container already exists" with status 128 (every runsc
        // failure is 128); runc says "container with given ID already exists" with status 1.
        var expected = Runtime.IsRunsc ? 128 : 1;
        Assert.Multiple(() =>
        {
            Assert.That(s.ExitCode, Is.EqualTo(expected), $"exit status of the duplicate create: {s}");
            Assert.That(s.Stderr, Does.Contain("already exists"), $"the reason: {s}");
        });
    }

    [Test]
    public void DeleteOfARunningContainerWithoutForce_FailsLikeTheRuntime_AndKeepsTheStaging()
    {
        var (direct, dId, shim, sId) = SideBySide("busy");
        foreach (var (cli, id, name) in new[] { (direct, dId, "direct"), (shim, sId, "shim") })
        {
            AssertSucceeded(cli.Run("create", "--bundle", NewBundle(name, "sleep", "30").Dir, id), $"{cli.Label} create");
            AssertSucceeded(cli.Run("start", id), $"{cli.Label} start");
            WaitForStatus(cli, id, "running");
        }
        var mountsBefore = NewMounts();

        var d = direct.Run("delete", dId);
        var s = shim.Run("delete", sId);

        Assert.That(d.ExitCode, Is.Not.Zero, $"the runtime deleted a running container without --force: {d}");
        AssertSameOutcome("delete of a running container", d, dId, s, sId);
        Assert.That(NewMounts(), Is.EquivalentTo(mountsBefore), "csshim unstaged a container the runtime kept");
        AssertSucceeded(shim.Run("exec", sId, "ls", "/bin/busybox"), "exec after the refused delete");
        AssertSucceeded(shim.Run("delete", "--force", sId), "csshim delete --force");
        AssertSucceeded(direct.Run("delete", "--force", dId), "runtime delete --force");
    }

    [Test]
    public void SameIdUnderTwoRoots_AreTwoContainers()
    {
        // csshim keys its state by (--root, id), as runc does.
        if (Runtime.IsRunsc)
            Assert.Ignore("runsc names its sandbox control socket by id alone, so one id cannot live under two roots");
        var a = Shim("a");
        var b = RuntimeCli.Shim(Runtime, Path.Combine(TempDir, "root-b"), a.ShimStateDir!, a.Exe);
        const string id = "same-id";
        Containers.Track(a, id);
        Containers.Track(b, id);
        AssertSucceeded(a.Run("create", "--bundle", NewBundle("a", "sleep", "30").Dir, id), "create under root a");
        AssertSucceeded(b.Run("create", "--bundle", NewBundle("b", "sleep", "30").Dir, id), "create under root b");
        Assert.That(StagedContainers(a), Has.Count.EqualTo(2), "one staging per (root, id)");
        AssertSucceeded(a.Run("delete", "--force", id), "delete under root a");
        Assert.That(StagedContainers(a), Has.Count.EqualTo(1), "deleting under root a took root b's staging");
        AssertSucceeded(b.Run("start", id), "start under root b after root a's delete");
        AssertSucceeded(b.Run("delete", "--force", id), "delete under root b");
        Assert.That(NewMounts(), Is.Empty, "staging mounts after both deletes");
    }

    [Test]
    public void ParallelCreates_ThroughOneStateDir_AllStageAndUnstage()
    {
        const int n = 4;
        var shim = Shim();
        var ids = Enumerable.Range(0, n).Select(_ => NewId(shim, "par")).ToArray();
        var bundles = Enumerable.Range(0, n).Select(i => NewBundle("par" + i, "sleep", "30")).ToArray();
        var creates = Enumerable.Range(0, n)
            .Select(i => Task.Run(() => shim.Run("create", "--bundle", bundles[i].Dir, ids[i]))).ToArray();
        Task.WaitAll(creates);
        foreach (var c in creates) AssertSucceeded(c.Result, "parallel csshim create");
        Assert.That(StagedContainers(shim), Has.Count.EqualTo(n));
        var deletes = ids.Select(id => Task.Run(() => shim.Run("delete", "--force", id))).ToArray();
        Task.WaitAll(deletes);
        foreach (var d in deletes) AssertSucceeded(d.Result, "parallel csshim delete --force");
        Assert.That(NewMounts(), Is.Empty, "staging mounts after parallel deletes");
    }

    [Test]
    public void MissingRuntimeBinary_IsCsshimsOwnFailure()
    {
        var r = ProcessRunner.Run(CsshimBinary.Require(),
            new[] { "--shim-runtime", Path.Combine(TempDir, "no-such-runtime"), "--shim-state-dir", Path.Combine(TempDir, "st"), "state", "x" });
        Assert.Multiple(() =>
        {
            Assert.That(r.ExitCode, Is.EqualTo(1), r.ToString());
            Assert.That(r.Stderr, Does.Contain("no-such-runtime"), "the reason names the runtime path");
        });
    }
}
