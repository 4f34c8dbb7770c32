// The run form: grouping takes a few seconds; say so and keep the button from a second click.
document.querySelectorAll("form button[data-busy]").forEach((button) => {
  button.form.addEventListener("submit", () => {
    button.disabled = true;
    button.textContent = button.dataset.busy;
  });
});
