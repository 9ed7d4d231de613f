// Nothing to do yet: the check runs in the post step, after venice-ephemeral-key's own post step.
console.log('Will check that no Venice key is left once the job is done.');
