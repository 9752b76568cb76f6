// django-celery-beat's periodic-task form (templates/admin/djcelery/): the chosen crontab read
// out in words under its field. The package does this in an inline script, which the
// Content-Security-Policy refuses.
(function () {
  "use strict";
  var $ = django.jQuery;
  $(function () {
    var readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
    var help = $(".field-crontab .help");
    var original = help.contents().clone();
    $(".field-crontab_translation").hide();
    $(".field-crontab").change(function () {
      var words = readable[$("#id_crontab").val()];
      help.empty().append(original.clone(), $("<br>"), document.createTextNode("Translation: " + (words || "")));
    });
  });
})();
