"""The entity lists of benchmarks/contrast.py: the words whose swap turns a question into a
look-alike that is NOT its duplicate ("Divorce in Nepal?" vs "Divorce in Armenia?").

Benchmark data only: nothing under src/ may use these lists (the project is also judged on
look-alikes it never saw, so the model must learn the pattern, not these names). Multi-word
names come before their parts so that "New Jersey" is swapped whole.
"""

COUNTRIES = [
    "Afghanistan", "Albania", "Algeria", "Argentina", "Armenia", "Australia", "Austria", "Bangladesh",
    "Belgium", "Bhutan", "Botswana", "Brazil", "Bulgaria", "Cambodia", "Canada", "Chile", "China",
    "Colombia", "Croatia", "Cuba", "Denmark", "Egypt", "Ethiopia", "Finland", "France", "Germany",
    "Ghana", "Greece", "Hungary", "Iceland", "India", "Indonesia", "Iran", "Iraq", "Ireland", "Israel",
    "Italy", "Jamaica", "Japan", "Kenya", "Kuwait", "Lebanon", "Malaysia", "Maldives", "Martinique",
    "Mexico", "Mongolia", "Morocco", "Nepal", "Netherlands", "New Zealand", "Nigeria", "Norway",
    "Pakistan", "Peru", "Philippines", "Poland", "Portugal", "Qatar", "Romania", "Russia",
    "Saudi Arabia", "South Africa", "South Korea", "Spain", "Sri Lanka", "Sweden", "Switzerland",
    "Syria", "Taiwan", "Thailand", "Uganda", "Ukraine", "Vietnam", "Zimbabwe",
]
US_STATES = [
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware",
    "Florida", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana",
    "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri",
    "Montana", "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "North Carolina",
    "North Dakota", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina",
    "South Dakota", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "West Virginia", "Wisconsin",
    "Wyoming",
]
CITIES = [
    "Mumbai", "Delhi", "Bangalore", "Chennai", "Hyderabad", "Pune", "Kolkata", "Ahmedabad", "Jaipur",
    "Noida", "Gurgaon", "Lucknow", "Chandigarh", "London", "Paris", "Berlin", "Tokyo", "Beijing",
    "Shanghai", "Sydney", "Melbourne", "Toronto", "Vancouver", "Dubai", "Chicago", "Boston", "Seattle",
    "San Francisco", "Los Angeles", "Houston", "Moscow", "Rome", "Madrid", "Barcelona", "Amsterdam",
    "Istanbul", "Bangkok", "Hong Kong", "Seoul", "Cairo", "Nairobi", "Karachi", "Lahore", "Dhaka",
]
PERSONS = [
    "Donald Trump", "Hillary Clinton", "Barack Obama", "Narendra Modi", "Rahul Gandhi", "Arvind Kejriwal",
    "Elon Musk", "Bill Gates", "Mark Zuckerberg", "Steve Jobs", "Albert Einstein", "Isaac Newton",
    "Vladimir Putin", "Shah Rukh Khan", "Salman Khan", "Sachin Tendulkar", "Virat Kohli", "Lionel Messi",
    "Cristiano Ronaldo", "Michael Jackson", "Taylor Swift", "Adolf Hitler", "Trump", "Hillary",
    "Obama", "Modi", "Kejriwal", "Putin", "Hitler", "Einstein", "Newton", "Gandhi", "Nehru",
]
COMPANIES = [
    "Google", "Apple", "Microsoft", "Amazon", "Facebook", "Twitter", "Quora", "Uber", "Netflix", "IBM",
    "Intel", "Samsung", "Infosys", "TCS", "Wipro", "Accenture", "Deloitte", "Flipkart", "Snapdeal",
    "Paytm", "Tesla", "Oracle", "Adobe", "Cognizant", "Goldman Sachs", "McKinsey", "LinkedIn", "Yahoo",
]
PRODUCTS = [
    "iPhone 6", "iPhone 7", "iPhone", "iPad", "MacBook", "Android", "Windows 10", "Windows 7", "Linux",
    "Ubuntu", "PS4", "Xbox", "WhatsApp", "Instagram", "Snapchat", "YouTube", "Gmail", "Chrome",
    "Firefox", "Photoshop", "Excel", "Kindle", "Moto G", "Redmi Note 3", "OnePlus",
]
PROGRAMMING_LANGUAGES = [
    "Python", "Java", "JavaScript", "C++", "C#", "PHP", "Ruby", "Swift", "Kotlin", "Scala", "Perl",
    "MATLAB", "HTML", "CSS", "SQL", "Haskell",
]
SPOKEN_LANGUAGES = [
    "English", "French", "German", "Spanish", "Hindi", "Japanese", "Russian", "Arabic", "Tamil",
    "Telugu", "Bengali", "Marathi", "Urdu", "Italian", "Portuguese", "Korean", "Sanskrit", "Punjabi",
    "Mandarin",
]

KINDS = {
    "country": COUNTRIES, "us_state": US_STATES, "city": CITIES, "person": PERSONS,
    "company": COMPANIES, "product": PRODUCTS, "programming_language": PROGRAMMING_LANGUAGES,
    "spoken_language": SPOKEN_LANGUAGES,
}
